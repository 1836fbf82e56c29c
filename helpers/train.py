"""Training and evaluation of image classifiers on tensors held on the device.

Introduced in notebook 02; reused by 03 (a quick model when 02's checkpoint is missing),
04 (adversarial training) and 07 (neural collapse). The data path is the fast one: the whole
dataset is one ``(N, C, H, W)`` tensor on the device and augmentation (random crop with
padding, horizontal flip) is done a batch at a time there, so the GPU never waits on a
DataLoader. On CUDA, :func:`fit` also uses mixed precision (bf16 where the GPU has it, else
fp16 with a gradient scaler, e.g. on a T4) and the channels_last memory layout.
"""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import artifacts, runtime, validate


class TrainingError(RuntimeError):
    """Raised when training would run on garbage (bad labels, non-finite loss, ...)."""


def as_tensors(data, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``ImageData`` or ``(x, y)`` -> ``x: (N, C, H, W) float in [0, 1]``, ``y: (N,) int64``."""
    if hasattr(data, "tensors"):
        x, y = data.tensors(device)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
        x, y = torch.as_tensor(x).to(device).float(), torch.as_tensor(y).to(device)
        if y.is_floating_point():
            raise TypeError(f"expected labels: integer class indices, got dtype {y.dtype}")
        y = y.long()
    else:
        raise TypeError(f"expected data: an ImageData or an (images, labels) pair, got {type(data).__name__}")
    return x, y


def check_inputs(x: torch.Tensor, y: torch.Tensor, num_classes: int) -> None:
    """Stop with a clear message instead of training on garbage."""
    validate.images(x, "images")
    if y.shape != (len(x),):
        raise ValueError(f"expected labels: shape ({len(x)},), one per image, got shape "
                         f"{tuple(y.shape)}")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"expected labels: integers in [0, {num_classes - 1}], got range "
                         f"[{int(y.min())}, {int(y.max())}]")


def augment(x: torch.Tensor, pad: int = 4, flip: bool = True, generator=None) -> torch.Tensor:
    """Random crop with ``pad`` reflect-padding and random horizontal flip, on a whole batch.

    x: (N, C, H, W) -> (N, C, H, W), done on x's device; pixel values are only moved, never
    changed, so the range is kept.
    """
    validate.images(x, "x", check_range=False)
    n, c, h, w = x.shape
    if pad > 0:
        xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=generator)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]   # (N, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]   # (N, 1, W)
        x = xp.permute(0, 2, 3, 1)[torch.arange(n, device=x.device)[:, None, None], rows, cols]
        x = x.permute(0, 3, 1, 2)                                              # (N, C, H, W)
    if flip:
        mask = torch.rand(n, device=x.device, generator=generator) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x.contiguous()


def amp_dtype(device, amp="auto"):
    """The autocast dtype :func:`fit` uses: bf16 on GPUs that have it, fp16 on older ones
    (T4, V100: these need a gradient scaler), ``None`` (full fp32) on CPU/MPS or ``amp=False``."""
    device = torch.device(device)
    if amp is False or amp is None or device.type != "cuda":
        return None
    # native bf16 needs compute capability 8.0 (Ampere) or newer; is_bf16_supported() also
    # answers True for the slow emulation on a T4 (7.5), so ask the hardware instead
    native_bf16 = torch.cuda.get_device_capability(device)[0] >= 8
    if amp in ("bf16", torch.bfloat16) or (amp in ("auto", True) and native_bf16):
        return torch.bfloat16
    return torch.float16


def _autocast(device, dtype):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


@torch.no_grad()
def evaluate(model: nn.Module, data, batch_size: int = 500, device=None, tta: bool = False,
             amp="auto") -> dict:
    """Mean cross-entropy loss and accuracy; restores the model's train/eval mode.

    ``tta=True`` averages the probabilities of each image and its mirror image.
    """
    device = device or next(model.parameters()).device
    x, y = as_tensors(data, device)
    dtype = amp_dtype(device, amp)
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        with _autocast(device, dtype):
            logp = model(xb).float().log_softmax(1)
            if tta:
                logp = ((logp.exp() + model(xb.flip(3)).float().softmax(1)) / 2).log()
        loss_sum += F.nll_loss(logp, yb, reduction="sum").item()
        correct += (logp.argmax(1) == yb).sum().item()
    model.train(was_training)
    return {"loss": loss_sum / len(x), "acc": correct / len(x)}


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Softmax probabilities ``(N, classes)`` for ``x: (N, C, H, W)`` in [0, 1] (eval mode)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i:i + batch_size].to(device)).float().softmax(1).cpu()
                     for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float = 5e-4):
    """``"sgd"`` (Nesterov momentum 0.9) or ``"adam"`` (AdamW), with weight decay."""
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                               weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    validate.choice(name, ("sgd", "adam"), "optimizer")


def lr_factor(step: int, total: int, schedule: str = "onecycle", warmup: float = 0.25) -> float:
    """Multiplier of the peak learning rate at ``step`` of ``total``: ``"onecycle"`` rises
    linearly for the first ``warmup`` fraction of the steps, then falls linearly to 0."""
    if schedule == "constant":
        return 1.0
    validate.choice(schedule, ("onecycle", "constant"), "schedule")
    warm = max(1, int(warmup * total))
    return (step + 1) / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))


def _state_copy(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _load_run(checkpoint, model, made_from):
    """The saved state of an interrupted :func:`fit` run, or None (no file, an unreadable or
    older file, or a run on other data or with other settings: one line says which)."""
    payload = artifacts.load(checkpoint, made_from, what="fit", action="training again")
    if payload is None:
        return None
    if "optimizer" not in payload:
        print(f"[fit] {Path(checkpoint).name} holds no training state: starting fresh")
        return None
    model.load_state_dict(payload["state"])
    return payload


def fit(model: nn.Module, train, val=None, epochs: int = 10, batch_size: int = 256,
        lr: float = 0.1, optimizer: str = "sgd", schedule: str = "onecycle",
        weight_decay: float = 5e-4, augment_data: bool = True, label_smoothing: float = 0.0,
        device=None, desc: str = "train", max_batches: int | None = None,
        step_hook=None, seed: int | None = 0, *, warmup: float = 0.25, amp="auto",
        channels_last="auto", patience: int | None = None, restore_best: bool = False,
        checkpoint=None, resume: bool = False, progress: bool = True,
        made_from: dict | None = None) -> dict:
    """Train ``model`` in place; returns the history (lists per epoch).

    train/val: ``ImageData`` or ``(x, y)`` with ``x: (N, C, H, W)`` in [0, 1].
    ``schedule``: ``"onecycle"`` (linear warm-up over the ``warmup`` fraction, then down to 0)
    or ``"constant"``. ``step_hook(model, x, y)`` may replace the training batch (adversarial
    training returns perturbed ``x``). ``amp``: ``"auto"`` = bf16 / fp16 + GradScaler on CUDA,
    off elsewhere; ``channels_last="auto"``: on for CUDA.

    Early stopping: with ``val`` and ``patience=k`` the run stops after k epochs without a
    better validation accuracy; ``restore_best`` (implied by ``patience``) loads the best
    epoch's weights at the end. ``checkpoint=path`` writes the full training state atomically
    after every epoch; ``resume=True`` continues an interrupted run from it.

    A non-finite loss stops the run with :class:`TrainingError`; the weights of the last
    finished epoch are restored and the checkpoint on disk (if any) is left at that epoch.
    """
    device = torch.device(device or runtime.current().device)
    epochs, batch_size = validate.integer(epochs, "epochs"), validate.integer(batch_size, "batch_size")
    if patience is not None and val is None:
        raise ValueError("early stopping (patience) needs a validation set: pass val=")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path of the interrupted run>")
    num_classes = model.fc.out_features if hasattr(model, "fc") else None
    x, y = as_tensors(train, device)
    check_inputs(x, y, num_classes or int(y.max()) + 1)
    if val is not None:
        xv, yv = as_tensors(val, device)
        check_inputs(xv, yv, num_classes or int(yv.max()) + 1)
    model.to(device)
    if channels_last == "auto":
        channels_last = device.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    dtype = amp_dtype(device, amp)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    if seed is not None:
        torch.manual_seed(seed)     # dropout draws from the global generator
    gen = torch.Generator(device=device).manual_seed(seed if seed is not None else
                                                     int(torch.randint(2**31, ())))
    steps_per_epoch = math.ceil(len(x) / batch_size)
    sync_every = 1 if device.type == "cpu" else 20
    if max_batches:
        steps_per_epoch = min(steps_per_epoch, max_batches)
    total = epochs * steps_per_epoch
    opt = make_optimizer(model, optimizer, lr, weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total, schedule, warmup))
    hist = {k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr",
                            "seconds", "images_per_s")}
    restore_best = restore_best or patience is not None
    best = {"score": -math.inf, "epoch": 0, "state": None}
    start, done = 0, False
    settings = dict(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                    schedule=schedule, warmup=warmup, weight_decay=weight_decay,
                    label_smoothing=label_smoothing, augment=augment_data, n_train=len(x),
                    model=dict(getattr(model, "config", {})))
    record = {**(made_from or {}), "data": artifacts.digest(x, y, sample=256),
              "settings": settings}
    saved = _load_run(checkpoint, model, record) if resume else None
    if saved is not None:
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        if scaler is not None and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        gen.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        if device.type == "cuda" and saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(saved["cuda_rng"], device)
        hist, start, done = saved["history"], saved["epoch"], saved["done"]
        best = dict(saved["best"])
        print(f"[fit] resumed from {Path(checkpoint).name} after epoch {start} of {epochs}"
              + (" (that run had finished: nothing left to train)" if done else ""))
    good_state = _state_copy(model)
    bar = tqdm(total=total, initial=start * steps_per_epoch, desc=desc, unit="batch",
               leave=True, disable=not progress)
    for epoch in range(start, start if done else epochs):
        model.train()
        t0 = shown = time.perf_counter()
        seen = 0
        loss_sum = torch.zeros((), device=device)          # summed on the device: no sync per step
        correct = torch.zeros((), device=device, dtype=torch.long)
        order = torch.randperm(len(x), device=device, generator=gen)
        for step in range(steps_per_epoch):
            idx = order[step * batch_size:(step + 1) * batch_size]
            xb, yb = x[idx], y[idx]
            if augment_data:
                xb = augment(xb, generator=gen)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            if step_hook is not None:
                xb = step_hook(model, xb, yb)
            with _autocast(device, dtype):
                out = model(xb)
                loss = F.cross_entropy(out.float(), yb, label_smoothing=label_smoothing)
            loss_sum += loss.detach() * len(idx)
            correct += (out.argmax(1) == yb).sum()
            seen += len(idx)
            # the GPU runs ahead of Python; look at the numbers (a sync) only every few steps
            if step % sync_every == sync_every - 1 or step == steps_per_epoch - 1:
                if not torch.isfinite(loss_sum):
                    model.load_state_dict(good_state)
                    bar.close()
                    kept = f"; {Path(checkpoint).name} still holds epoch {epoch}" if checkpoint else ""
                    raise TrainingError(
                        f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}: the "
                        f"run was stopped and the weights of the last finished epoch ({epoch}) "
                        f"restored{kept}. Lower the learning rate (now {lr}) or check the inputs.")
                if time.perf_counter() - shown > 0.5 or step == steps_per_epoch - 1:
                    shown = time.perf_counter()
                    bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}",
                                    img_s=f"{seen / (shown - t0):.0f}", refresh=False)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            sched.step()
            bar.update(1)
        loss_sum, correct = loss_sum.item(), correct.item()
        seconds = time.perf_counter() - t0
        hist["train_loss"].append(loss_sum / seen)
        hist["train_acc"].append(correct / seen)
        hist["lr"].append(opt.param_groups[0]["lr"])
        hist["seconds"].append(seconds)
        hist["images_per_s"].append(seen / seconds)
        if val is not None:
            r = evaluate(model, (xv, yv), amp=amp)
            hist["val_loss"].append(r["loss"])
            hist["val_acc"].append(r["acc"])
            if r["acc"] > best["score"]:
                best = {"score": r["acc"], "epoch": epoch + 1,
                        "state": _state_copy(model) if restore_best else None}
        good_state = _state_copy(model)
        stop = patience is not None and epoch + 1 - best["epoch"] >= patience
        if checkpoint is not None:
            artifacts.save(checkpoint, dict(
                state={k: v.detach().cpu() for k, v in model.state_dict().items()},
                config=getattr(model, "config", {}), epoch=epoch + 1,
                done=stop or epoch + 1 == epochs, history=hist, optimizer=opt.state_dict(),
                scheduler=sched.state_dict(),
                scaler=scaler.state_dict() if scaler is not None else {},
                generator=gen.get_state().cpu(), torch_rng=torch.get_rng_state(), best=best,
                cuda_rng=torch.cuda.get_rng_state(device) if device.type == "cuda" else None),
                record)
        if stop:
            print(f"[fit] early stop after epoch {epoch + 1}: no better val_acc for "
                  f"{patience} epochs")
            break
    bar.close()
    if restore_best and best["state"] is not None:
        model.load_state_dict(best["state"])
        print(f"[fit] restored the best epoch ({best['epoch']}, val_acc {best['score']:.3f})")
    hist["best_epoch"], hist["stopped_epoch"] = best["epoch"], len(hist["train_loss"])
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return hist
