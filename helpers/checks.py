"""Checks and exercise checkers used in every notebook (introduced in notebook 01).

* :func:`requirement` names, once near the top of a notebook, something some claims need
  (``checks.requirement("pretrained", model.is_pretrained, "a pretrained ImageNet network")``).
* :func:`claim` asserts a lecture claim in one line, or prints a visible SKIPPED line when the
  claim ``needs=`` a requirement that this run does not have.
* :func:`exercise` answers "correct" / "not yet" for a student's answer to a "Try it" cell;
  it never raises, so a notebook with unanswered exercises still runs top to bottom.
"""
from __future__ import annotations

import numpy as np
import torch

from .plumbing import validate


def _as_array(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


#: requirement name -> (present, what it is); filled by :func:`requirement`
_REQUIREMENTS: dict[str, tuple[bool, str]] = {}


def requirement(key: str, present, what: str) -> None:
    """Name something that some claims of this notebook need, once (e.g. near the top).

    ``key`` is what claims pass as ``needs=``; ``present`` whether this run has it (real data,
    pretrained weights); ``what`` how a SKIPPED line names it. Calling it again with the same
    key replaces the entry (a notebook re-run top to bottom).
    """
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"expected key: a non-empty name such as 'pretrained', got {key!r}")
    _REQUIREMENTS[key.strip()] = (bool(present), str(what))


def _missing(needs) -> list[str]:
    keys = [needs] if isinstance(needs, str) else list(needs)
    keys = [k.strip() for key in keys for k in key.split(",") if k.strip()]
    unknown = [k for k in keys if k not in _REQUIREMENTS]
    if unknown:
        known = ", ".join(sorted(_REQUIREMENTS)) or "none yet"
        raise ValueError(f"claim needs unknown requirement(s) {unknown}: name each once with "
                         f"checks.requirement(key, present, what) (known: {known})")
    return [_REQUIREMENTS[k][1] for k in keys if not _REQUIREMENTS[k][0]]


def claim(name: str, condition, needs=(), *, requires: bool = True, missing: str = "") -> None:
    """Assert ``condition`` (a bool or a zero-argument callable), one line in a notebook.

    ``needs``: a requirement key (or several, as a tuple or ``"a, b"``) named earlier with
    :func:`requirement`; when one is absent the claim prints ``SKIPPED <name> (needs ...)``, so a
    claim that only holds for real data is visibly not checked rather than silently passed.
    (``requires=False, missing=...`` says the same inline.) Returns nothing (a notebook cell
    ending in a claim shows its PASSED line, not a stray ``True``).
    """
    absent = _missing(needs) if needs else []
    if not requires:
        absent.append(missing or "real data")
    if absent:
        print(f"SKIPPED  {name}  (needs {' and '.join(absent)})")
        return
    value = condition() if callable(condition) else condition
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.reshape(-1).shape[0] != 1:
        raise ValueError(f"expected condition of claim {name!r}: a single bool (or a callable "
                         f"returning one), got an array of shape {tuple(value.shape)}: "
                         f"use .all() or .any()")
    ok = bool(value)
    if not ok:
        raise AssertionError(f"claim failed: {name}")
    print(f"PASSED   {name}")


def exercise(name: str, answer, expected, atol: float = 1e-6, hint: str = "") -> bool:
    """Compare a student's ``answer`` with ``expected`` (numbers, arrays or tensors, up to
    ``atol``; anything else by ``==``). Prints and returns whether it is correct."""
    atol = validate.number(atol, "atol", minimum=0, meaning="absolute tolerance")
    if answer is None or answer is Ellipsis:
        print(f"[{name}] not answered yet" + (f" - hint: {hint}" if hint else ""))
        return False
    try:
        a, e = _as_array(answer), _as_array(expected)
        if a.dtype.kind in "biuf" and e.dtype.kind in "biuf":
            ok = a.shape == e.shape and bool(np.allclose(a, e, atol=atol, rtol=0))
        else:
            ok = bool(answer == expected)
    except Exception:
        ok = False
    print(f"[{name}] " + ("correct" if ok else "not yet" + (f" - hint: {hint}" if hint else "")))
    return ok
