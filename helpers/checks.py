"""Checks and exercise checkers used in every notebook (introduced in notebook 01).

* :func:`claim` asserts a lecture claim, or prints a visible SKIPPED line when the claim
  needs real data or pretrained weights that this run does not have.
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


def claim(name: str, condition, requires: bool = True, missing: str = "") -> None:
    """Assert ``condition`` (a bool or a zero-argument callable) when ``requires`` holds.

    ``requires=False`` prints ``SKIPPED <name> (needs <missing>)``, so a claim that only holds
    for real data is visibly not checked rather than silently passed. Returns nothing (a
    notebook cell ending in a claim shows its PASSED line, not a stray ``True``).
    """
    if not requires:
        print(f"SKIPPED  {name}  (needs {missing or 'real data'})")
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
