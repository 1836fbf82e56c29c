"""Training and evaluation of image classifiers on tensors held on the device.

Introduced in notebook 02; reused by 03 (a quick model when 02's checkpoint is missing),
04 (adversarial training) and 07 (neural collapse). The data path is the fast one: the whole
dataset is one ``(N, C, H, W)`` tensor on the device and augmentation (random crop with
padding, horizontal flip) is done a batch at a time there, so the GPU never waits on a
DataLoader.
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import runtime


class TrainingError(RuntimeError):
    """Raised when training would run on garbage (bad labels, non-finite loss, ...)."""


def as_tensors(data, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``ImageData`` or ``(x, y)`` -> ``x: (N, C, H, W) float in [0, 1]``, ``y: (N,) int64``."""
    if hasattr(data, "tensors"):
        x, y = data.tensors(device)
    else:
        x, y = data
        x, y = torch.as_tensor(x).to(device).float(), torch.as_tensor(y).to(device).long()
    return x, y


def check_inputs(x: torch.Tensor, y: torch.Tensor, num_classes: int) -> None:
    """Stop with a clear message instead of training on garbage."""
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(x.shape)}")
    if len(x) == 0:
        raise ValueError("the dataset is empty: nothing to train on")
    if y.shape != (len(x),):
        raise ValueError(f"{len(x)} images but labels of shape {tuple(y.shape)}: they must match")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes - 1}], got range "
                         f"[{int(y.min())}, {int(y.max())}]")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or inf values")


def augment(x: torch.Tensor, pad: int = 4, flip: bool = True, generator=None) -> torch.Tensor:
    """Random crop with ``pad`` reflect-padding and random horizontal flip, on a whole batch.

    x: (N, C, H, W) -> (N, C, H, W), done on x's device.
    """
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


@torch.no_grad()
def evaluate(model: nn.Module, data, batch_size: int = 500, device=None) -> dict:
    """Mean cross-entropy loss and accuracy; restores the model's train/eval mode."""
    device = device or next(model.parameters()).device
    x, y = as_tensors(data, device)
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size])
        loss_sum += F.cross_entropy(out.float(), y[i:i + batch_size], reduction="sum").item()
        correct += (out.argmax(1) == y[i:i + batch_size]).sum().item()
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
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                               weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}: expected 'sgd' or 'adam'")


def fit(model: nn.Module, train, val=None, epochs: int = 10, batch_size: int = 256,
        lr: float = 0.1, optimizer: str = "sgd", schedule: str = "onecycle",
        weight_decay: float = 5e-4, augment_data: bool = True, label_smoothing: float = 0.0,
        device=None, desc: str = "train", max_batches: int | None = None,
        step_hook=None, seed: int | None = 0) -> dict:
    """Train ``model`` in place; returns the history (lists per epoch).

    train/val: ``ImageData`` or ``(x, y)`` with x in [0, 1]. ``schedule``: ``"onecycle"``
    (linear warm-up to ``lr`` then down to 0) or ``"constant"``. ``step_hook(model, x, y)``
    may replace the training batch (adversarial training returns perturbed ``x``).
    A non-finite loss stops the run with :class:`TrainingError` and restores the weights
    of the last finished epoch.
    """
    device = device or runtime.current().device
    model.to(device)
    num_classes = model.fc.out_features if hasattr(model, "fc") else None
    x, y = as_tensors(train, device)
    check_inputs(x, y, num_classes or int(y.max()) + 1)
    if val is not None:
        xv, yv = as_tensors(val, device)
        check_inputs(xv, yv, num_classes or int(yv.max()) + 1)
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    gen = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    steps_per_epoch = math.ceil(len(x) / batch_size)
    if max_batches:
        steps_per_epoch = min(steps_per_epoch, max_batches)
    total = epochs * steps_per_epoch
    opt = make_optimizer(model, optimizer, lr, weight_decay)
    if schedule == "onecycle":
        warm = max(1, int(0.25 * total))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / (total - warm)))
    elif schedule == "constant":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    else:
        raise ValueError(f"unknown schedule {schedule!r}: expected 'onecycle' or 'constant'")
    hist = {k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr",
                            "seconds", "images_per_s")}
    good_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    bar = tqdm(total=total, desc=desc, unit="batch", leave=True)
    for epoch in range(epochs):
        model.train()
        t0, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        order = torch.randperm(len(x), device=device, generator=gen)
        for step in range(steps_per_epoch):
            idx = order[step * batch_size:(step + 1) * batch_size]
            xb, yb = x[idx], y[idx]
            if augment_data:
                xb = augment(xb, generator=gen)
            if step_hook is not None:
                xb = step_hook(model, xb, yb)
            out = model(xb)
            loss = F.cross_entropy(out, yb, label_smoothing=label_smoothing)
            if not torch.isfinite(loss):
                model.load_state_dict(good_state)
                bar.close()
                raise TrainingError(
                    f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}: the run "
                    f"was stopped and the weights of the last finished epoch restored. Lower "
                    f"the learning rate (now {lr}) or check the inputs.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}",
                            img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        seconds = time.perf_counter() - t0
        hist["train_loss"].append(loss_sum / seen)
        hist["train_acc"].append(correct / seen)
        hist["lr"].append(opt.param_groups[0]["lr"])
        hist["seconds"].append(seconds)
        hist["images_per_s"].append(seen / seconds)
        if val is not None:
            r = evaluate(model, (xv, yv))
            hist["val_loss"].append(r["loss"])
            hist["val_acc"].append(r["acc"])
        good_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    bar.close()
    return hist
