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
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import runtime
from .plumbing import artifacts, runstate, validate


TrainingError = runtime.TrainingError     # one error for every trainer in the package


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
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"expected device: a torch.device or a name such as 'cpu' or 'cuda', "
                         f"got {device!r}") from None
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
    batch_size = validate.integer(batch_size, "batch_size")
    x, y = as_tensors(data, device)
    validate.images(x, "images")
    dtype = amp_dtype(device, amp)
    loss_sum, correct = 0.0, 0
    with runtime.eval_mode(model):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            with _autocast(device, dtype):
                logp = model(xb).float().log_softmax(1)
                if tta:
                    logp = ((logp.exp() + model(xb.flip(3)).float().softmax(1)) / 2).log()
            loss_sum += F.nll_loss(logp, yb, reduction="sum").item()
            correct += (logp.argmax(1) == yb).sum().item()
    return {"loss": loss_sum / len(x), "acc": correct / len(x)}


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Softmax probabilities ``(N, classes)`` for ``x: (N, C, H, W)`` in [0, 1] (eval mode)."""
    validate.images(x, "x")
    batch_size = validate.integer(batch_size, "batch_size")
    device = next(model.parameters()).device
    with runtime.eval_mode(model):
        return torch.cat([model(x[i:i + batch_size].to(device)).float().softmax(1).cpu()
                          for i in range(0, len(x), batch_size)])


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float = 5e-4):
    """``"sgd"`` (Nesterov momentum 0.9, weight decay added to the gradient), ``"adam"`` (Adam,
    the same coupled weight decay) or ``"adamw"`` (AdamW: decoupled weight decay)."""
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                               weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    validate.choice(name, ("sgd", "adam", "adamw"), "optimizer")


def lr_factor(step: int, total: int, schedule: str = "onecycle", warmup: float = 0.25) -> float:
    """Multiplier of the peak learning rate at ``step`` of ``total``: ``"onecycle"`` rises
    linearly for the first ``warmup`` fraction of the steps, then falls linearly to 0."""
    if schedule == "constant":
        return 1.0
    validate.choice(schedule, ("onecycle", "constant"), "schedule")
    warm = max(1, int(warmup * total))
    return (step + 1) / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))


@dataclass(frozen=True)
class _Steps:
    """How :func:`fit` takes its optimizer steps (fixed for the whole run)."""

    batch_size: int
    per_epoch: int
    augment: bool
    channels_last: bool
    dtype: torch.dtype | None
    label_smoothing: float
    step_hook: object
    sync_every: int       # look at the loss (a device sync) every this many steps
    lr: float             # for the error message only


def fit(model: nn.Module, train, val=None, epochs: int = 10, batch_size: int = 256,
        lr: float = 0.1, optimizer: str = "sgd", schedule: str = "onecycle",
        weight_decay: float = 5e-4, augment_data: bool = True, label_smoothing: float = 0.0,
        device=None, desc: str = "train", max_batches: int | None = None,
        step_hook=None, seed: int | None = 0, *, warmup: float = 0.25, amp="auto",
        channels_last="auto", patience: int | None = None, restore_best: bool = False,
        checkpoint=None, resume: bool = False, progress: bool = True,
        made_from: dict | None = None, eval_train: bool = False,
        monitor: str = "val_acc") -> dict:
    """Train ``model`` in place; returns the history (lists per epoch).

    train/val: ``ImageData`` or ``(x, y)`` with ``x: (N, C, H, W)`` in [0, 1].
    ``schedule``: ``"onecycle"`` (linear warm-up over the ``warmup`` fraction, then down to 0)
    or ``"constant"``. ``step_hook(model, x, y)`` may replace the training batch (adversarial
    training returns perturbed ``x``). ``amp``: ``"auto"`` = bf16 / fp16 + GradScaler on CUDA,
    off elsewhere; ``channels_last="auto"``: on for CUDA.

    Early stopping: with ``val`` and ``patience=k`` the run stops after k epochs without a
    better validation accuracy (``monitor="val_loss"``: a lower validation loss); ``restore_best``
    (implied by ``patience``) loads the best epoch's weights at the end. ``checkpoint=path`` writes the full training state atomically
    after every epoch; ``resume=True`` continues an interrupted run from it, but only if it was
    made from the same data (``made_from`` plus a digest of the images) and settings.

    ``eval_train=True`` also measures the training images after every epoch as validation is
    measured (eval mode, no augmentation, no dropout): ``train_eval_loss`` and ``train_eval_acc``
    in the history, the fair side of a train/validation gap (notebook 02's ablation). The
    epoch's running ``train_loss``/``train_acc`` are taken on augmented images with dropout on,
    while the weights still change, so they are not comparable with the validation numbers.

    A non-finite loss stops the run with :class:`TrainingError`; the weights of the last
    finished epoch are restored and the checkpoint on disk (if any) is left at that epoch.
    Steps: :func:`_train_epoch` (the optimizer steps and the progress bar), :func:`_validate`
    (validation and the best epoch), :func:`helpers.plumbing.runstate.save` / ``resume`` (the
    checkpoint), :func:`_finish` (restore the best epoch).
    """
    device = torch.device(device or runtime.current().device)
    epochs, batch_size = validate.integer(epochs, "epochs"), validate.integer(batch_size, "batch_size")
    if patience is not None and val is None:
        raise ValueError("early stopping (patience) needs a validation set: pass val=")
    monitor = validate.choice(monitor, ("val_acc", "val_loss"), "monitor")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path of the interrupted run>")
    x, y, val = _inputs(model, train, val, device)
    model.to(device)
    channels_last = device.type == "cuda" if channels_last == "auto" else bool(channels_last)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    per_epoch = min(math.ceil(len(x) / batch_size), max_batches or math.inf)
    steps = _Steps(batch_size, per_epoch, augment_data, channels_last, amp_dtype(device, amp),
                   label_smoothing, step_hook, 1 if device.type == "cpu" else 20, lr)
    run = _new_run(model, steps, optimizer, lr, weight_decay, schedule, warmup, epochs,
                   device, seed)
    settings = dict(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                    schedule=schedule, warmup=warmup, weight_decay=weight_decay,
                    label_smoothing=label_smoothing, augment=augment_data, n_train=len(x),
                    model=dict(getattr(model, "config", {})))
    if eval_train:
        settings["eval_train"] = True     # recorded only when on: older checkpoints stay valid
    if monitor != "val_acc":
        settings["monitor"] = monitor
    record = {**(made_from or {}), "data": artifacts.digest(x, y, sample=256),
              "settings": settings}
    if resume:
        runstate.resume(checkpoint, run, record, device, epochs)
    restore_best = restore_best or patience is not None
    bar = runtime.progress(total=epochs * per_epoch, initial=run.epoch * per_epoch, desc=desc, unit="batch",
               leave=True, disable=not progress)
    while not run.done and run.epoch < epochs:
        _train_epoch(run, x, y, steps, bar, checkpoint)
        if val is not None:
            _validate(run, val, amp, restore_best, monitor)
        if eval_train:
            r = evaluate(run.model, (x, y), amp=amp)
            run.hist.setdefault("train_eval_loss", []).append(r["loss"])
            run.hist.setdefault("train_eval_acc", []).append(r["acc"])
        run.epoch += 1
        stop = patience is not None and run.epoch - run.best["epoch"] >= patience
        run.done = stop or run.epoch == epochs
        if checkpoint is not None:
            runstate.save(checkpoint, run, record, device)
        if stop:
            print(f"[fit] early stop after epoch {run.epoch}: no better {monitor} for "
                  f"{patience} epochs")
    bar.close()
    return _finish(run, restore_best, channels_last, monitor)


def _inputs(model, train, val, device):
    """Training tensors and the validation pair (or None), each checked once."""
    num_classes = model.fc.out_features if hasattr(model, "fc") else None
    x, y = as_tensors(train, device)
    check_inputs(x, y, num_classes or int(y.max()) + 1)
    if val is not None:
        val = as_tensors(val, device)
        check_inputs(*val, num_classes or int(val[1].max()) + 1)
    return x, y, val


def _new_run(model, steps: _Steps, optimizer, lr, weight_decay, schedule, warmup, epochs,
             device, seed) -> runstate.Run:
    """A fresh run: seeded generator, optimizer, schedule over all steps, gradient scaler."""
    if seed is not None:
        torch.manual_seed(seed)     # dropout draws from the global generator
    gen = torch.Generator(device=device).manual_seed(seed if seed is not None else
                                                     int(torch.randint(2**31, ())))
    opt = make_optimizer(model, optimizer, lr, weight_decay)
    total = epochs * steps.per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, schedule, warmup))
    scaler = torch.amp.GradScaler("cuda") if steps.dtype == torch.float16 else None
    return runstate.Run(model, opt, sched, scaler, gen)


def _train_epoch(run: runstate.Run, x, y, steps: _Steps, bar, checkpoint) -> None:
    """One pass over a fresh shuffle of ``(x, y)``; appends the epoch's numbers to the history.

    A non-finite loss restores the weights at the start of the epoch and raises TrainingError."""
    model, device = run.model, x.device
    good_state = runstate.state_copy(model)
    model.train()
    t0 = shown = time.perf_counter()
    seen = 0
    loss_sum = torch.zeros((), device=device)          # summed on the device: no sync per step
    correct = torch.zeros((), device=device, dtype=torch.long)
    order = torch.randperm(len(x), device=device, generator=run.gen)
    for step in range(steps.per_epoch):
        idx = order[step * steps.batch_size:(step + 1) * steps.batch_size]
        xb, yb = x[idx], y[idx]
        if steps.augment:
            xb = augment(xb, generator=run.gen)
        if steps.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        if steps.step_hook is not None:
            xb = steps.step_hook(model, xb, yb)
        with _autocast(device, steps.dtype):
            out = model(xb)
            loss = F.cross_entropy(out.float(), yb, label_smoothing=steps.label_smoothing)
        loss_sum += loss.detach() * len(idx)
        correct += (out.argmax(1) == yb).sum()
        seen += len(idx)
        # the GPU runs ahead of Python; look at the numbers (a sync) only every few steps
        last = step == steps.per_epoch - 1
        if step % steps.sync_every == steps.sync_every - 1 or last:
            if not torch.isfinite(loss_sum):
                model.load_state_dict(good_state)
                bar.close()
                _diverged(loss, run.epoch, step, steps.lr, checkpoint)
            if time.perf_counter() - shown > 0.5 or last:
                shown = time.perf_counter()
                bar.set_postfix(epoch=run.epoch + 1, loss=f"{loss.item():.3f}",
                                img_s=f"{seen / (shown - t0):.0f}", refresh=False)
        _optimizer_step(run, loss)
        bar.update(1)
    seconds = time.perf_counter() - t0
    run.hist["train_loss"].append(loss_sum.item() / seen)
    run.hist["train_acc"].append(correct.item() / seen)
    run.hist["lr"].append(run.opt.param_groups[0]["lr"])
    run.hist["seconds"].append(seconds)
    run.hist["images_per_s"].append(seen / seconds)


def _optimizer_step(run: runstate.Run, loss) -> None:
    run.opt.zero_grad(set_to_none=True)
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.step(run.opt)
        run.scaler.update()
    else:
        loss.backward()
        run.opt.step()
    run.sched.step()


def _diverged(loss, epoch: int, step: int, lr: float, checkpoint):
    kept = f"; {Path(checkpoint).name} still holds epoch {epoch}" if checkpoint else ""
    raise TrainingError(
        f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}: the run was "
        f"stopped and the weights of the last finished epoch ({epoch}) restored{kept}. "
        f"Lower the learning rate (now {lr}) or check the inputs.")


def _validate(run: runstate.Run, val, amp, keep_best_state: bool, monitor: str = "val_acc") -> None:
    """Validation loss and accuracy of the epoch just trained; remember the best epoch
    (highest accuracy, or lowest loss with ``monitor="val_loss"``: its score is minus the loss)."""
    r = evaluate(run.model, val, amp=amp)
    run.hist["val_loss"].append(r["loss"])
    run.hist["val_acc"].append(r["acc"])
    score = r["acc"] if monitor == "val_acc" else -r["loss"]
    if score > run.best["score"]:
        run.best = {"score": score, "epoch": run.epoch + 1,
                    "state": runstate.state_copy(run.model) if keep_best_state else None}


def _finish(run: runstate.Run, restore_best: bool, channels_last: bool,
            monitor: str = "val_acc") -> dict:
    if restore_best and run.best["state"] is not None:
        run.model.load_state_dict(run.best["state"])
        score = run.best["score"] if monitor == "val_acc" else -run.best["score"]
        print(f"[fit] restored the best epoch ({run.best['epoch']}, {monitor} {score:.3f})")
    run.hist["best_epoch"], run.hist["stopped_epoch"] = run.best["epoch"], len(run.hist["train_loss"])
    if channels_last:
        run.model.to(memory_format=torch.contiguous_format)
    return run.hist


def try_it_expected() -> dict:
    """The answers notebook 02's "Try it" cell checks, kept here so that they are not on the
    student's screen (``tests/test_nb02_exercises.py`` checks each against PyTorch itself).

    ``steps``: optimizer steps of one epoch of 50,000 images at batch 512; ``params``: weights of
    a 3x3 convolution from 64 to 128 channels without bias; ``dropout_torch``: a kept activation
    2.0 under ``nn.Dropout(p=0.2)`` in training mode (PyTorch's p is the drop probability, kept
    values are scaled by 1/(1-p)); ``dropout_slides``: the test-time output of an activation 2.0
    under the slides' convention with keep probability p = 0.8 (multiplied by p at test time);
    ``bn``: batch norm (training mode, gamma 1, beta 0, eps 0) of the value 6 among 1, 2, 3, 6.
    """
    v = torch.tensor([1.0, 2.0, 3.0, 6.0])
    return {"steps": math.ceil(50_000 / 512), "params": 3 * 3 * 64 * 128,
            "dropout_torch": 2.0 / (1 - 0.2), "dropout_slides": 0.8 * 2.0,
            "bn": ((6 - v.mean()) / v.var(unbiased=False).sqrt()).item()}
