"""Input checks shared by every public helper: each check in one place, one wording.

Every message has the form ``expected <name>: <what is expected>, got <what came>``, and ends
with what to do where there is an obvious fix, e.g.::

    expected x: (N, 3, H, W) float in [0, 1], got range [-2.1, 2.6]: pass pixels, not
    normalized tensors (the models normalize inside)

Wrong types raise ``TypeError``; right type but wrong shape, size, range or name raise
``ValueError``. Used from notebook 01 on by every module that takes images or settings
(:mod:`helpers.attacks`, :mod:`helpers.interpret`, :mod:`helpers.autoencoders`,
:mod:`helpers.features`, :mod:`helpers.train`, :mod:`helpers.linalg`, ...). It imports nothing
from the rest of the package, so any module can use it.
"""
from __future__ import annotations

import math
import numbers

import torch

#: slack on the [0, 1] pixel range (float rounding of resized or blended images)
RANGE_TOL = 1e-4


def _spec(name: str, channels: int | None, shape) -> str:
    if shape is not None:
        dims = ", ".join(map(str, shape))
    else:
        dims = f"{channels if channels is not None else 'C'}, H, W"
    return f"expected {name}: (N, {dims}) float in [0, 1]"


def images(x, name: str = "images", channels: int | None = None, shape=None,
           allow_uint8: bool = False, check_range: bool = True) -> torch.Tensor:
    """``x`` as a float ``(N, C, H, W)`` tensor of pixels in [0, 1], or a clear error.

    ``channels``: the required C; ``shape``: the required ``(C, H, W)``; ``allow_uint8``:
    uint8 pixels are accepted and divided by 255 (the only conversion ever made);
    ``check_range=False`` skips the range test (a device sync) for per-batch use.
    """
    spec = _spec(name, channels, shape)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{spec} tensor, got {type(x).__name__}")
    if x.ndim != 4:
        hint = ": one image needs a batch axis, x[None]" if x.ndim == 3 else ""
        raise ValueError(f"{spec}, got shape {tuple(x.shape)}{hint}")
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{spec}, got shape {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{spec}, got shape {tuple(x.shape)}")
    if allow_uint8 and x.dtype == torch.uint8:
        x = x.float().div(255)
    if not x.is_floating_point():
        raise TypeError(f"{spec}, got dtype {x.dtype}: divide uint8 images by 255 "
                        f"(ImageData.tensors() does)")
    if len(x) == 0:
        raise ValueError(f"{spec}, got an empty batch (N = 0)")
    if check_range:
        if not torch.isfinite(x).all():
            raise ValueError(f"{spec}, got NaN or inf values")
        lo, hi = float(x.min()), float(x.max())
        if lo < -RANGE_TOL or hi > 1 + RANGE_TOL:
            hint = ("these look like 0-255 values: divide by 255" if lo >= 0 and 10 < hi <= 255 else
                    "pass pixels, not normalized tensors (the models normalize inside)")
            raise ValueError(f"{spec}, got range [{lo:.3g}, {hi:.3g}]: {hint}")
    return x


def integer(value, name: str, minimum: int = 1, maximum: int | None = None,
            meaning: str = "") -> int:
    """``value`` as an int in ``[minimum, maximum]`` (a whole float such as 3.0 is accepted).

    Not a number (or a bool): TypeError; a fraction, inf or out of bounds: ValueError."""
    what = f"{name}{f' ({meaning})' if meaning else ''}"
    bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected {what}: an integer {bounds}, got {value!r}")
    if not math.isfinite(value) or int(value) != value or value < minimum or \
            (maximum is not None and value > maximum):
        raise ValueError(f"expected {what}: an integer {bounds}, got {value!r}")
    return int(value)


def number(value, name: str, minimum: float | None = None, maximum: float | None = None,
           strict_minimum: bool = False, meaning: str = "") -> float:
    """``value`` as a finite float within the bounds (``strict_minimum``: ``> minimum``)."""
    what = f"{name}{f' ({meaning})' if meaning else ''}"
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if strict_minimum else '>='} {minimum:g}")
    if maximum is not None:
        parts.append(f"<= {maximum:g}")
    bounds = f" {' and '.join(parts)}" if parts else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"expected {what}: a finite number{bounds}, got {value!r}")
    low = minimum is not None and (value <= minimum if strict_minimum else value < minimum)
    if low or (maximum is not None and value > maximum):
        raise ValueError(f"expected {what}: a number{bounds}, got {value:g}")
    return float(value)


def choice(value, options, name: str) -> str:
    """``value`` if it is one of ``options``, else a ValueError listing them."""
    options = list(options)
    if value not in options:
        raise ValueError(f"expected {name}: one of {', '.join(map(repr, options))}, got {value!r}")
    return value
