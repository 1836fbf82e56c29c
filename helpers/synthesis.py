"""Images made by gradient ascent: activation maximization and DeepDream (notebook 03).

``visualize`` solves ``argmax_I S_c(I) - lambda ||I||^2`` for a class score or a channel's mean
activation, with the regularizers of Yosinski et al. (2015): L2 decay, periodic Gaussian blur,
clipping of small pixels and small gradients, and random jitter. ``deep_dream`` amplifies a
layer, ``I* = argmax sum_i f_i(I)^2``, over several octaves (scales). Images are
``(N, 3, H, W) float in [0, 1]``; layer names and hooks come from :mod:`helpers.interpret`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import runtime
from .plumbing import validate
from .interpret import _device, _score, forward_to, no_inplace  # noqa: F401


# --------------------------------------------------------------------------- synthesis
def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)`` with reflect padding (radius 2 sigma)."""
    validate.images(x, "x", check_range=False)
    sigma = validate.number(sigma, "sigma", minimum=0, strict_minimum=True,
                            meaning="blur width in pixels")
    r = max(1, int(round(2 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = (k / k.sum()).repeat(x.shape[1], 1, 1)                   # (C, 1, 2r+1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k[:, :, None, :], groups=x.shape[1])
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k[:, :, :, None], groups=x.shape[1])


def visualize(model, target=None, layer=None, channel=None, size: int = 224, steps: int = 256,
              lr: float = 0.05, l2: float = 0.0, blur_every: int = 0, blur_sigma: float = 0.5,
              clip_pixels: float = 0.0, clip_grads: float = 0.0, jitter: int = 0,
              init: str = "noise", seed: int = 0, progress: bool = True):
    """Activation maximization ``argmax_I S(I) - l2 ||I - 0.5||^2`` by gradient ascent (Adam).

    S: logit ``target``, or the mean of ``channel`` of ``layer``. Regularizers (Yosinski et
    al. 2015): ``l2`` decay, Gaussian blur every ``blur_every`` steps, zeroing the
    ``clip_pixels`` fraction of pixels with the smallest norm and the ``clip_grads`` fraction of
    the smallest gradient entries, random ``jitter`` shifts. Returns ``(image (1, 3, size,
    size) in [0, 1], history)`` with ``history["score"]`` the unregularized S per step.
    """
    if init not in ("noise", "zeros"):
        raise ValueError(f"unknown init {init!r}: choose 'noise' or 'zeros'")
    if target is None and layer is None:
        raise ValueError("give a target class or a layer (and channel) to maximize")
    dev = _device(model)
    g = torch.Generator(device=dev).manual_seed(seed)
    delta = torch.zeros(1, 3, size, size, device=dev)            # image = 0.5 + delta
    if init == "noise":
        delta = 0.1 * torch.randn(delta.shape, generator=g, device=dev)
    delta.requires_grad_(True)
    opt = torch.optim.Adam([delta], lr=lr)
    hist = {"score": [], "objective": []}
    with no_inplace(model):
        for step in runtime.progress(range(steps), desc="activation max", disable=not progress, leave=False):
            img = (0.5 + delta).clamp(0, 1)
            if jitter:
                dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=g, device=dev).tolist()
                img = torch.roll(img, (dy, dx), (2, 3))
            score = _score(model, img, target, layer, channel)[0]
            objective = score - l2 * delta.pow(2).sum()
            opt.zero_grad()
            (-objective).backward()
            if clip_grads:
                mag = delta.grad.abs()
                delta.grad[mag < mag.flatten().quantile(clip_grads)] = 0
            opt.step()
            with torch.no_grad():
                delta.clamp_(-0.5, 0.5)
                if blur_every and (step + 1) % blur_every == 0:
                    delta.copy_(gaussian_blur(delta, blur_sigma))
                if clip_pixels:
                    norm = delta.norm(dim=1, keepdim=True)           # (1, 1, H, W)
                    delta.mul_((norm >= norm.flatten().quantile(clip_pixels)).float())
            hist["score"].append(score.item())
            hist["objective"].append(objective.item())
    return (0.5 + delta.detach()).clamp(0, 1), hist


def deep_dream(model, x, layer: str, steps: int = 20, lr: float = 0.02, octaves: int = 3,
               scale: float = 1.4, jitter: int = 8, seed: int = 0, progress: bool = True):
    """DeepDream: gradient ascent on ``0.5 * mean(f(I)^2)`` of ``layer``, small octave first.

    x: (1, 3, H, W) in [0, 1]. Each octave adds detail at a finer scale; the step is the
    gradient divided by its mean magnitude. Returns ``(dream, history)``, ``history`` a list
    of per-step objectives for each octave.
    """
    x = validate.images(x, "x", channels=3).to(_device(model))
    if len(x) != 1:
        raise ValueError(f"deep_dream takes one image (1, 3, H, W), got {tuple(x.shape)}")
    g = torch.Generator().manual_seed(seed)
    sizes = [tuple(int(round(s / scale ** k)) for s in x.shape[2:]) for k in reversed(range(octaves))]
    detail, history = torch.zeros_like(x), []
    with no_inplace(model):
        for size in runtime.progress(sizes, desc="octaves", disable=not progress, leave=False):
            base = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
            img = (base + F.interpolate(detail, size=size, mode="bilinear", align_corners=False)).clamp(0, 1)
            curve = []
            for _ in range(steps):
                dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=g).tolist()
                shifted = torch.roll(img, (dy, dx), (2, 3)).detach().requires_grad_(True)
                loss = 0.5 * forward_to(model, shifted, [layer])[layer].pow(2).mean()
                (grad,) = torch.autograd.grad(loss, shifted)
                grad = torch.roll(grad, (-dy, -dx), (2, 3))
                img = (img + lr * grad / grad.abs().mean().clamp(min=1e-12)).clamp(0, 1).detach()
                curve.append(loss.item())
            history.append(curve)
            detail = img - base
    return img, history
