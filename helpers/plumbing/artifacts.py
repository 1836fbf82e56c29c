"""Saved artefacts that know what they were made from: write atomically, reuse only on a match.

Introduced in notebook 02 (its training checkpoint and trained model); every checkpoint and
cache under the data folder goes through here: training state (:func:`helpers.train.fit`),
trained models (:mod:`helpers.models`, :mod:`helpers.autoencoders`), decoded-image caches
(:mod:`helpers.plumbing.imagefolder`) and feature caches (:mod:`helpers.features`).

Each file is one ``torch.save`` dict ``{"format": FORMAT, "made_from": {...}, **payload}``:
``made_from`` records the dataset, its source (``torchvision`` / ``image-folder`` /
``synthetic``), split, size, seed or content digest, and the recipe or config. :func:`load`
returns the payload only when the file is readable, of the current format, and its
``made_from`` agrees with what the caller has now; otherwise it prints one line that says what
differs (``"trained on the SYNTHETIC stand-in; the data is now real CIFAR-10 (image folder)"``)
and returns ``None``, so the caller rebuilds and :func:`save` replaces the file.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from . import validate

#: bump when the layout of saved files changes: older files are then rebuilt, not loaded
FORMAT = 2

SOURCE_WORDS = {"torchvision": "real (torchvision)", "image-folder": "real (image folder)",
                "synthetic": "the SYNTHETIC stand-in"}


def save(path, payload: dict, made_from: dict) -> Path:
    """Write ``payload`` plus its provenance to ``path`` atomically (temp file, then rename).

    Everything in ``payload`` and ``made_from`` must be tensors, numbers, strings, ``None``,
    lists, tuples or dicts, so that ``torch.load(..., weights_only=True)`` can read it back.
    """
    path = Path(path)
    if not isinstance(made_from, dict) or not made_from:
        raise ValueError("made_from must be a non-empty dict saying what the file was made from")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save({**payload, "format": FORMAT, "made_from": made_from}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _remove_stale_temporaries(path: Path) -> None:
    """Delete half-written temporaries of ``path`` left by a process that was killed while
    writing (their names carry its pid; one still running keeps its file)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:-len(".tmp")]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # someone else's process: alive
        return True
    return True


def read(path, what: str = "file") -> dict | None:
    """The raw dict in ``path``, or ``None`` (with one line saying why) if it is unreadable
    or of another format. A missing file gives ``None`` silently."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, corrupt, or not ours
        print(f"[{what}] {path} is unreadable ({type(err).__name__}): corrupt or truncated; "
              f"rebuilding it")
        return None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        old = payload.get("format", "1 (no provenance)") if isinstance(payload, dict) else "?"
        print(f"[{what}] {path.name} is from an older format ({old}, now {FORMAT}): "
              f"rebuilding it")
        return None
    return payload


def load(path, expected: dict, what: str = "file", action: str = "rebuilding it") -> dict | None:
    """The payload of ``path`` if its ``made_from`` agrees with ``expected`` on every key of
    ``expected``; else ``None`` and one line saying what differs."""
    payload = read(path, what)
    if payload is None:
        return None
    difference = describe_difference(payload["made_from"], expected)
    if difference:
        print(f"[{what}] {Path(path).name}: {difference}: {action}")
        return None
    return payload


def describe_difference(saved: dict, now: dict) -> str:
    """``""`` if ``saved`` agrees with ``now`` on every key of ``now``, else a phrase."""
    if not isinstance(saved, dict) or not isinstance(now, dict):
        raise TypeError(f"expected saved and now: two dicts of what a file was made from, got "
                        f"{type(saved).__name__} and {type(now).__name__}")
    if "source" in now and "source" in saved and saved["source"] != now["source"]:
        was = SOURCE_WORDS.get(saved.get("source"), str(saved.get("source")))
        is_ = SOURCE_WORDS.get(now.get("source"), str(now.get("source")))
        verb = "made from" if saved.get("source") != "synthetic" else "trained on"
        return f"{verb} {was} data; the data is now {is_}"
    for key, value in now.items():
        if key not in saved:
            return f"it records no {key!r} (now {_short(value)})"
        old, new = _plain(saved[key]), _plain(value)
        if old != new and isinstance(old, dict) and isinstance(new, dict):
            parts = [f"{k} {_short(old.get(k))} -> {_short(new.get(k))}"
                     for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
            return f"its {key} differs ({', '.join(parts)})"
        if old != new:
            return f"its {key} was {_short(saved[key])}, now {_short(value)}"
    return ""


def _plain(value):
    """Tuples and lists compare equal (torch.load gives back what save was given)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _short(value, limit: int = 70) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def digest(*tensors, sample: int | None = None) -> str:
    """A short sha256 of tensors' shapes and bytes. ``sample=k`` hashes only k evenly spaced
    rows of each (enough to tell datasets apart, cheap for a large tensor on a GPU)."""
    if sample is not None:
        sample = validate.integer(sample, "sample", meaning="rows to hash, or None for all")
    h = hashlib.sha256()
    for t in tensors:
        t = torch.as_tensor(t).detach()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        if sample is not None and t.ndim > 0 and len(t) > sample:
            t = t[torch.linspace(0, len(t) - 1, sample).long().to(t.device)]
        h.update(t.cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def checkpoint_dir() -> Path:
    """``<data dir>/checkpoints``, created if needed: where trained models are kept."""
    from .. import runtime

    path = runtime.data_dir() / "checkpoints"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_model(path, model, made_from: dict | None = None, **extra) -> Path:
    """Write ``{"state": ..., "config": ..., **extra}`` atomically, with its provenance.

    ``made_from`` says what the weights were trained on and how (default: only the model's
    ``config``). ``extra`` must hold only tensors, numbers, strings, lists and dicts, so that
    ``torch.load(..., weights_only=True)`` can read it back.
    """
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"save_checkpoint needs an nn.Module, got {type(model).__name__}")
    config = dict(getattr(model, "config", {}))
    payload = {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "config": config, **extra}
    return save(path, payload, made_from or {"config": config})

