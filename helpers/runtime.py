"""Run-time plumbing shared by every notebook: profile, device, seeding, the banner.

Introduced in notebook 01 (the setup cell); every notebook calls :func:`setup` first.

Environment variables (all optional):

``NB_PROFILE``   ``smoke`` | ``cpu`` | ``gpu``. Unset: ``gpu`` when CUDA or Apple MPS is
                 present, else ``cpu``. The test suite forces ``smoke``.
``NB_DATA_DIR``  where datasets and weights are cached (default: ``data/`` of the checkout).
``NB_STRICT``    ``1`` turns every offline stand-in into an error that says which file to
                 place where.
``NB_OFFLINE``   ``1`` never touches the network (stand-ins straight away).
``NB_DEVICE``    force ``cpu``, ``cuda`` or ``mps``.
``NB_REPORT``    a JSON file the notebook runner reads (profile, device, data sources); an
                 existing folder gets one ``<title>.json`` per notebook (the test suite's summary).
``NB_FIGCHECK``  a folder: every figure shown is measured into it (``plumbing/figcheck.py``).
``NB_HEADLESS``  ``1`` in unattended runs (runner, tests): progress bars off.
"""
from __future__ import annotations

import contextlib
import json
import numbers
import os
import platform
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

PROFILES = ("smoke", "cpu", "gpu")
# The oldest releases the helpers are tested on (tools/check_compat.sh, a Colab-like stack).
MIN_VERSIONS = {"torch": (2, 5), "torchvision": (0, 20)}

#: data sources used in this kernel, name -> description ("real: ...", "synthetic stand-in", ...)
SOURCES: dict[str, str] = {}


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_profile() -> str:
    """The run profile: ``NB_PROFILE`` if set, else ``gpu`` with an accelerator, else ``cpu``."""
    value = os.environ.get("NB_PROFILE", "").strip().lower()
    if not value or value == "auto":
        return "gpu" if (torch.cuda.is_available() or _mps_available()) else "cpu"
    if value not in PROFILES:
        raise ValueError(
            f"unknown profile NB_PROFILE={value!r}: expected one of {', '.join(PROFILES)} "
            "(or leave NB_PROFILE unset for the automatic choice)"
        )
    return value


def pick(*, smoke, cpu, gpu, profile: str | None = None):
    """Return the value for the current profile: ``EPOCHS = pick(smoke=1, cpu=5, gpu=20)``."""
    profile = profile or get_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[profile]


def get_device(prefer: str | None = None) -> torch.device:
    """CUDA if present, else Apple MPS, else CPU. ``NB_DEVICE`` or ``prefer`` force one."""
    want = (prefer or os.environ.get("NB_DEVICE", "")).strip().lower()
    if want:
        if want not in ("cpu", "cuda", "mps"):
            raise ValueError(f"unknown device {want!r}: expected cpu, cuda or mps")
        if want == "cuda" and not torch.cuda.is_available():
            raise ValueError("NB_DEVICE=cuda but no CUDA GPU is visible: unset NB_DEVICE or "
                             "pick a GPU runtime (Colab: Runtime > Change runtime type > GPU)")
        if want == "mps" and not _mps_available():
            raise ValueError("NB_DEVICE=mps but Apple MPS is not available: unset NB_DEVICE")
        return torch.device(want)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_name(device: torch.device) -> str:
    if not isinstance(device, torch.device):
        raise TypeError(f"expected device: a torch.device such as rt.device, got "
                        f"{type(device).__name__} {device!r}: use torch.device({device!r})")
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({platform.processor() or platform.machine()}, {cpu_count()} cores)"


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so a run is repeatable."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"expected seed: an integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def cpu_count() -> int:
    """Cores this process may use (respects CPU affinity / container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def on_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def num_workers(profile: str | None = None) -> int:
    """A safe DataLoader worker count: never more than the cores, 2 on Colab, 0 in smoke."""
    profile = profile or get_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    if profile == "smoke":
        return 0
    cores = cpu_count()
    limit = 2 if on_colab() else 4
    return max(0, min(cores - 1, limit))


def strict() -> bool:
    """``NB_STRICT=1``: offline stand-ins become errors."""
    return os.environ.get("NB_STRICT", "").strip().lower() in ("1", "true", "yes")


def offline_forced() -> bool:
    return os.environ.get("NB_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def record_source(name: str, description: str) -> None:
    """Remember which data a notebook used (printed by the runner's summary line)."""
    if not isinstance(name, str) or not isinstance(description, str):
        raise TypeError(f"expected name and description: two strings, got "
                        f"{type(name).__name__} and {type(description).__name__}")
    earlier = SOURCES.get(name)
    if earlier:                                                   # the same split loaded again: say each draw once
        description = earlier if description in earlier.split("; ") else f"{earlier}; {description}"
    SOURCES[name] = description
    _write_report()


@dataclass
class Runtime:
    """What :func:`setup` returns: ``rt.device``, ``rt.profile``, ``rt.data_dir``, ``rt.pick``."""

    profile: str
    device: torch.device
    data_dir: Path
    seed: int
    sources: dict = field(default_factory=lambda: SOURCES)
    title: str = ""

    def pick(self, *, smoke, cpu, gpu):
        return pick(smoke=smoke, cpu=cpu, gpu=gpu, profile=self.profile)


_CURRENT: Runtime | None = None


def _write_report() -> None:
    path = os.environ.get("NB_REPORT")
    if not path or _CURRENT is None:
        return
    report = {
        "title": _CURRENT.title,
        "profile": _CURRENT.profile,
        "device": str(_CURRENT.device),
        "sources": dict(SOURCES),
    }
    path = Path(path)
    if path.is_dir():
        name = re.sub(r"[^A-Za-z0-9]+", "_", _CURRENT.title).strip("_") or f"kernel_{os.getpid()}"
        path = path / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(report))
    os.replace(tmp, path)


def data_dir() -> Path:
    """``NB_DATA_DIR``, else ``data/`` of the checkout this package lives in, else ``./data``."""
    env = os.environ.get("NB_DATA_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        checkout = Path(__file__).resolve().parent.parent / "data"
        path = checkout if checkout.is_dir() else Path.cwd() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def _release(version: str) -> tuple[int, ...]:
    """``"2.5.1+cu124"`` -> ``(2, 5, 1)``; the numeric release part of a version string."""
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = re.match(r"\d*", piece).group()                   # "1rc1" -> "1"
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_versions(installed: dict | None = None) -> None:
    """Raise ``RuntimeError`` when torch or torchvision is older than :data:`MIN_VERSIONS`
    (or missing), saying what to install. ``installed`` maps a name to its version string
    (default: what this environment has)."""
    from importlib.metadata import PackageNotFoundError, version

    if installed is not None and not isinstance(installed, dict):
        raise TypeError(f"expected installed: a dict of name -> version string such as "
                        f"{{'torch': '2.5.1'}}, got {type(installed).__name__} {installed!r}")
    problems = []
    for name, oldest in MIN_VERSIONS.items():
        try:
            have = installed[name] if installed is not None else version(name)
        except (KeyError, PackageNotFoundError):
            problems.append(f"{name} is not installed")
            continue
        if _release(have)[:len(oldest)] < oldest:
            problems.append(f"{name} {have} is older than {'.'.join(map(str, oldest))}")
    if problems:
        wanted = " ".join(f"'{n}>={'.'.join(map(str, v))}'" for n, v in MIN_VERSIONS.items())
        raise RuntimeError(f"helpers needs newer libraries: {'; '.join(problems)}. "
                           f"Run `pip install -U {wanted}` and restart the kernel "
                           f"(on Colab: Runtime > Restart session).")


class TrainingError(RuntimeError):
    """Raised by every trainer in the package (``train.fit``, ``autoencoders.fit_autoencoder``,
    ``linalg.train_linear_autoencoder``) when training would run on garbage: a non-finite loss
    (a learning rate too large, NaN inputs) or bad labels. The message says what to change."""


@contextlib.contextmanager
def eval_mode(model, enabled: bool = True):
    """Run ``model`` in eval mode (batch norm uses its running averages, dropout is off), then
    give every submodule back the train/eval mode it had, even if the block raises.
    ``enabled=False`` only restores the modes afterwards (for code that sets them itself)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"expected model: an nn.Module, got {type(model).__name__}")
    modes = [(m, m.training) for m in model.modules()]
    if enabled:
        model.eval()
    try:
        yield model
    finally:
        for m, was in modes:
            m.training = was


def headless() -> bool:
    """True in an unattended run (``tools/run_notebooks.py``, the test suite: ``NB_HEADLESS=1``)."""
    return os.environ.get("NB_HEADLESS", "").strip().lower() in ("1", "true", "yes")


def static_widgets() -> bool:
    """True where no one can move a slider, so :func:`helpers.plots.explore` draws its figure once
    instead of a widget: ``NB_STATIC_WIDGETS=1``, or, when that is unset, an unattended run
    (:func:`headless`). A test that drives JupyterLab in a browser sets ``NB_STATIC_WIDGETS=0``:
    unattended, but with a live page whose sliders it moves."""
    value = os.environ.get("NB_STATIC_WIDGETS", "").strip().lower()
    return value in ("1", "true", "yes") if value else headless()


def progress(iterable=None, **kwargs):
    """A ``tqdm.auto`` progress bar (a widget in Jupyter), switched off in headless runs: nobody
    watches it there, and the saved notebook would only keep its first frame ("0%")."""
    from tqdm.auto import tqdm
    if headless():
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)


def setup(seed: int = 0, title: str | None = None, quiet: bool = False) -> Runtime:
    """Seed, choose profile and device, print the banner; call once at the top of a notebook.

    >>> rt = setup(seed=0)          # doctest: +SKIP
    >>> EPOCHS = rt.pick(smoke=1, cpu=4, gpu=20)
    """
    global _CURRENT
    check_versions()
    profile = get_profile()
    device = get_device()
    seed_everything(seed)
    if profile == "smoke":
        # a 2-core CI box: stop intra-op threads from fighting each other
        torch.set_num_threads(min(torch.get_num_threads(), cpu_count()))
    _CURRENT = Runtime(profile=profile, device=device, data_dir=data_dir(), seed=seed,
                       title=title or "")
    SOURCES.clear()
    _write_report()
    if os.environ.get("NB_FIGCHECK"):
        from .plumbing import figcheck                 # measure every figure shown (tests, runner)
        figcheck.install(os.environ["NB_FIGCHECK"])
    if not quiet:
        from importlib.metadata import version       # not `import torchvision`: seconds saved

        lines = [
            f"profile : {profile}" + ("   (NB_PROFILE unset: chosen from the hardware)"
                                      if not os.environ.get("NB_PROFILE") else ""),
            f"device  : {device_name(device)}",
            f"versions: python {platform.python_version()}, torch {torch.__version__}, "
            f"torchvision {version('torchvision')}, numpy {np.__version__}",
            f"data dir: {_CURRENT.data_dir}" + ("   (NB_STRICT=1: no stand-ins)" if strict() else ""),
            f"seed    : {seed}",
        ]
        width = max(len(s) for s in lines)
        head = f" {title} " if title else ""
        print(head.center(width + 2, "="))
        print("\n".join(" " + s for s in lines))
        print("=" * (width + 2))
    return _CURRENT


def current() -> Runtime:
    """The runtime of the last :func:`setup` call (sets one up quietly if none)."""
    return _CURRENT if _CURRENT is not None else setup(quiet=True)
