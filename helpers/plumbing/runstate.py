"""The state of one :func:`helpers.train.fit` run, and its checkpoint: save, resume.

Introduced in notebook 02 (section 6: interrupt a run, run the cell again, it continues).
A :class:`Run` holds everything that changes while a model trains: the model, optimizer,
learning-rate schedule, gradient scaler, the random generator of the shuffles and
augmentations, the history and the best epoch so far. :func:`save` writes all of it after an
epoch (atomically, with what the run was made from, through :mod:`helpers.plumbing.artifacts`);
:func:`resume` puts it back only when the file was made from the same data and settings, so
that a resumed run is bit for bit the run that was interrupted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from . import artifacts


def state_copy(model: nn.Module) -> dict:
    """A detached copy of ``model.state_dict()`` (kept in memory to roll back to)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected model: an nn.Module, got {type(model).__name__}")
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass
class Run:
    """What one training run changes as it goes; :func:`save` stores it, :func:`resume` restores it."""

    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    gen: torch.Generator
    hist: dict = field(default_factory=lambda: {k: [] for k in (
        "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s")})
    best: dict = field(default_factory=lambda: {"score": -math.inf, "epoch": 0, "state": None})
    epoch: int = 0          # epochs finished
    done: bool = False      # the run ended (all epochs, or early stopping)


def _check_run(run) -> None:
    if not isinstance(run, Run):
        raise TypeError(f"expected run: a helpers.plumbing.runstate.Run, got {type(run).__name__}")


def save(path, run: Run, record: dict, device: torch.device) -> Path:
    """Write the run's full state after an epoch; ``record`` says what it was made from."""
    _check_run(run)
    return artifacts.save(path, dict(
        state={k: v.detach().cpu() for k, v in run.model.state_dict().items()},
        config=getattr(run.model, "config", {}), epoch=run.epoch, done=run.done,
        history=run.hist, optimizer=run.opt.state_dict(), scheduler=run.sched.state_dict(),
        scaler=run.scaler.state_dict() if run.scaler is not None else {},
        generator=run.gen.get_state().cpu(), torch_rng=torch.get_rng_state(), best=run.best,
        cuda_rng=torch.cuda.get_rng_state(device) if device.type == "cuda" else None), record)


def resume(path, run: Run, record: dict, device: torch.device, total_epochs: int) -> bool:
    """Restore ``run`` from ``path`` if that file holds a run made from ``record``; else leave
    it untouched. Either way one line says what happened (or why the file was not used)."""
    _check_run(run)
    payload = artifacts.load(path, record, what="fit", action="training again")
    if payload is None:
        return False
    if "optimizer" not in payload:
        print(f"[fit] {Path(path).name} holds no training state: starting fresh")
        return False
    run.model.load_state_dict(payload["state"])
    run.opt.load_state_dict(payload["optimizer"])
    run.sched.load_state_dict(payload["scheduler"])
    if run.scaler is not None and payload.get("scaler"):
        run.scaler.load_state_dict(payload["scaler"])
    run.gen.set_state(payload["generator"])
    torch.set_rng_state(payload["torch_rng"])
    if device.type == "cuda" and payload.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(payload["cuda_rng"], device)
    run.hist, run.epoch, run.done = payload["history"], payload["epoch"], payload["done"]
    run.best = dict(payload["best"])
    print(f"[fit] resumed from {Path(path).name} after epoch {run.epoch} of {total_epochs}"
          + (" (that run had finished: nothing left to train)" if run.done else ""))
    return True
