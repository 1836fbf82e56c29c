"""Adversarial attacks in pixel space: FGSM, PGD (L-inf and L2), noise controls, fooling images.

Introduced in notebook 04 (the adversarial lab). Every function works on
``x: (N, C, H, W) float in [0, 1]`` and a model that takes such pixels (the models of
:mod:`helpers.pretrained` and :mod:`helpers.models` normalize inside), and returns images that
are again in [0, 1]. The threat model is the ball ``||delta|| <= eps`` in the chosen norm,
intersected with the image box ``0 <= x + delta <= 1``.

The model is left as it was found: its parameters are never written (gradients are taken with
respect to the input only, so ``p.grad`` stays untouched) and its train/eval mode is restored.
By default attacks run the model in eval mode (``eval_mode=True``); adversarial training
passes ``eval_mode=False`` to attack the model in the mode it is being trained in.

Untargeted attacks raise the loss of the label ``y``; targeted ones (``target=...``) lower the
loss of the target class. Notebook 04 teaches the update rules and uses these implementations.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import runtime
from .plumbing import validate

NORMS = ("linf", "l2")


# --------------------------------------------------------------------------- validation
def check_eps(eps) -> float:
    return validate.number(eps, "eps", minimum=0, meaning="the radius of the allowed perturbation")


def check_norm(norm: str) -> str:
    key = str(norm).lower().replace("-", "").replace("_", "")
    key = {"inf": "linf", "linfinity": "linf", "2": "l2"}.get(key, key)
    if key not in NORMS:
        raise ValueError(f"expected norm: 'linf' or 'l2', got {norm!r}")
    return key


def _labels(y, x: torch.Tensor, what: str) -> torch.Tensor:
    y = torch.as_tensor(y, device=x.device).long().reshape(-1)
    if y.numel() == 1 and len(x) != 1:
        y = y.expand(len(x))
    if y.shape != (len(x),):
        raise ValueError(f"expected {what}: one class or one per image ({len(x)},), "
                         f"got shape {tuple(y.shape)}")
    return y


def _check_target(y: torch.Tensor, target: torch.Tensor) -> None:
    same = (target == y).nonzero().flatten()
    if len(same):
        i = int(same[0])
        raise ValueError(f"target class equals the true class for image {i} (class {int(y[i])}): "
                         "a targeted attack needs a different class, or use target=None")


# --------------------------------------------------------------------------- geometry
def norms(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-image size of a perturbation ``(N, C, H, W)`` -> ``(N,)`` in the given norm."""
    flat = delta.flatten(1)
    return flat.abs().amax(1) if check_norm(norm) == "linf" else flat.norm(dim=1)


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """The closest point of the eps-ball: clamp (L-inf) or rescale the long ones (L2)."""
    eps = check_eps(eps)
    if check_norm(norm) == "linf":
        return delta.clamp(-eps, eps)
    size = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * (eps / size).clamp(max=1.0).view(-1, 1, 1, 1)


def clip_box(x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Shrink ``delta`` so that ``x + delta`` stays in [0, 1] (never leaves the eps-ball)."""
    try:
        fits = torch.broadcast_shapes(x.shape, delta.shape) == x.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"expected delta: the shape of x {tuple(x.shape)} (or one that broadcasts "
                         f"to it), got {tuple(delta.shape)}")
    return (x + delta).clamp(0, 1) - x


def random_in_ball(x: torch.Tensor, eps: float, norm: str, generator=None) -> torch.Tensor:
    """A uniform random point of the eps-ball (the random start of PGD), shape of ``x``."""
    eps = check_eps(eps)
    if check_norm(norm) == "linf":
        u = torch.rand(x.shape, device=x.device, generator=generator)
        return (2 * u - 1) * eps
    g = torch.randn(x.shape, device=x.device, generator=generator)
    g = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    d = x[0].numel()
    r = torch.rand(len(x), device=x.device, generator=generator) ** (1.0 / d)
    return g * (eps * r).view(-1, 1, 1, 1)


def random_noise(x: torch.Tensor, eps: float, norm: str = "linf", generator=None) -> torch.Tensor:
    """The control: random noise of the SAME size as an attack, clipped to [0, 1].

    L-inf: a random sign in every pixel times eps (like FGSM, but not aimed).
    L2: a random Gaussian direction rescaled to length exactly eps.
    Returns the noisy images ``(N, C, H, W)`` in [0, 1].
    """
    validate.images(x, "x")
    eps, norm = check_eps(eps), check_norm(norm)
    if norm == "linf":
        u = torch.rand(x.shape, device=x.device, generator=generator)
        delta = torch.where(u < 0.5, -eps, eps).to(x.dtype)
    else:
        g = torch.randn(x.shape, device=x.device, generator=generator)
        delta = g * (eps / g.flatten(1).norm(dim=1).clamp_min(1e-12)).view(-1, 1, 1, 1)
    return (x + delta).clamp(0, 1)


# --------------------------------------------------------------------------- gradients
def loss_and_grad(model: nn.Module, x_adv: torch.Tensor, labels: torch.Tensor,
                  targeted: bool = False, amp: bool = False):
    """Per-image cross-entropy ``(N,)`` and its gradient w.r.t. the input ``(N, C, H, W)``.

    For a targeted attack the sign is flipped (we ascend ``-loss(target)``), so the caller
    always steps *up* the returned gradient. Only the input gets a gradient.
    """
    validate.images(x_adv, "x_adv", check_range=False)
    labels = _labels(labels, x_adv, "labels")
    x_adv = x_adv.detach().requires_grad_(True)
    use_amp = amp and x_adv.device.type == "cuda"
    with torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext():
        logits = model(x_adv)
    loss = F.cross_entropy(logits.float(), labels, reduction="none")
    objective = -loss if targeted else loss
    (grad,) = torch.autograd.grad(objective.sum(), x_adv)
    return loss.detach(), grad.detach(), logits.detach().float()


def _step(grad: torch.Tensor, alpha: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return alpha * grad.sign()
    size = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return alpha * grad / size


# --------------------------------------------------------------------------- attacks
def _attack_inputs(x, y, target, eps):
    """Validate an attack's inputs: images in [0, 1], eps >= 0, labels, a target != label."""
    validate.images(x, "x")
    eps = check_eps(eps)
    y = _labels(y, x, "labels y")
    tgt = None if target is None else _labels(target, x, "target")
    if tgt is not None:
        _check_target(y, tgt)
    return x.detach(), y, tgt, eps


def fgsm(model: nn.Module, x: torch.Tensor, y, eps: float, target=None,
         random_start: bool = False, alpha: float | None = None, eval_mode: bool = True,
         amp: bool = False, generator=None) -> torch.Tensor:
    """Fast Gradient Sign Method (Goodfellow et al. 2015): ``x + eps * sign(grad_x J)``.

    Targeted: ``x - eps * sign(grad_x J(target))``. ``random_start=True`` is the FGSM of
    "Fast is better than free" (Wong, Rice & Kolter 2020): start at a uniform point of the
    L-inf ball, take one step of size ``alpha`` (default 1.25 eps), project back.
    ``amp=True``: float16 autocast forward on CUDA (ignored elsewhere).
    x: (N, C, H, W) in [0, 1]; y: (N,) labels. Returns the adversarial images in [0, 1].
    """
    x, y, tgt, eps = _attack_inputs(x, y, target, eps)
    if eps == 0:
        return x.clone()
    with runtime.eval_mode(model, eval_mode):
        delta = clip_box(x, random_in_ball(x, eps, "linf", generator)) if random_start \
            else torch.zeros_like(x)
        step = alpha if alpha is not None else (1.25 * eps if random_start else eps)
        _, grad, _ = loss_and_grad(model, x + delta, y if tgt is None else tgt, tgt is not None, amp)
        delta = clip_box(x, project(delta + step * grad.sign(), eps, "linf"))
    return (x + delta).detach()


def pgd(model: nn.Module, x: torch.Tensor, y, eps: float, norm: str = "linf", steps: int = 10,
        alpha: float | None = None, target=None, random_start: bool = True, restarts: int = 1,
        eval_mode: bool = True, amp: bool = False, generator=None,
        progress: bool = False) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018) in the L-inf or L2 eps-ball.

    Each step: ``delta <- Proj_ball(delta + alpha * s)``, then clip ``x + delta`` to [0, 1],
    where ``s = sign(g)`` (L-inf) or ``g / ||g||_2`` (L2). ``alpha`` defaults to
    ``2.5 * eps / steps``. With ``restarts > 1`` each image keeps its best run: one that
    succeeds (misclassified, or classified as ``target``), else the highest objective.
    ``amp=True`` runs the forward pass in float16 autocast on CUDA (ignored elsewhere).
    x: (N, C, H, W) in [0, 1]; y: (N,) labels. Returns adversarial images in [0, 1].
    """
    norm = check_norm(norm)
    steps = validate.integer(steps, "steps", meaning="gradient steps per run")
    restarts = validate.integer(restarts, "restarts", meaning="random starts")
    x, y, tgt, eps = _attack_inputs(x, y, target, eps)
    if eps == 0:
        return x.clone()
    alpha = 2.5 * eps / steps if alpha is None else float(alpha)
    labels, targeted = (y, False) if tgt is None else (tgt, True)
    best = x.clone()
    best_score = torch.full((len(x),), -math.inf, device=x.device)
    bar = runtime.progress(total=restarts * steps, desc=f"PGD-{steps} {norm}", leave=False, disable=not progress)
    with runtime.eval_mode(model, eval_mode):
        for _ in range(int(restarts)):
            delta = random_in_ball(x, eps, norm, generator) if random_start else torch.zeros_like(x)
            delta = clip_box(x, delta)
            for _ in range(int(steps)):
                _, grad, _ = loss_and_grad(model, x + delta, labels, targeted, amp)
                delta = clip_box(x, project(delta + _step(grad, alpha, norm), eps, norm))
                bar.update(1)
            with torch.no_grad():
                logits = model(x + delta).float()
                loss = F.cross_entropy(logits, labels, reduction="none")
                hit = logits.argmax(1) == tgt if targeted else logits.argmax(1) != y
                score = (-loss if targeted else loss) + 1e6 * hit.float()   # success first
                better = score > best_score
                best[better] = (x + delta)[better]
                best_score = torch.where(better, score, best_score)
    bar.close()
    return best.detach()


def fooling_image(model: nn.Module, target: int, shape=(1, 3, 224, 224), steps: int = 100,
                  lr: float = 0.01, threshold: float = 0.99, start=None, eval_mode: bool = True,
                  generator=None, progress: bool = True):
    """An image the model assigns to ``target`` with confidence ``>= threshold``, from noise.

    Signed gradient ascent on ``log p(target | x)`` in pixel space, clipped to [0, 1]
    (Nguyen, Yosinski & Clune 2015 show such 'fooling images' for deep nets). Starts from
    ``start`` or from grey plus small uniform noise. Stops early once every image reaches the
    threshold. Returns ``(images (N, C, H, W) in [0, 1], probs)`` with ``probs`` the
    target probability after each step, a list of ``(N,)`` tensors.
    """
    if steps < 1 or lr <= 0 or not 0 < threshold <= 1:
        raise ValueError(f"need steps >= 1, lr > 0 and 0 < threshold <= 1; got {steps}, {lr}, {threshold}")
    if isinstance(target, str) or not hasattr(target, "__len__"):   # one class for all images
        target = validate.integer(target, "target", minimum=0, meaning="the class index to reach")
    if start is None and len(shape) != 4:
        raise ValueError(f"expected shape: (N, C, H, W) of the images to make, got {tuple(shape)}")
    device = next(model.parameters()).device
    if start is None:
        u = torch.rand(shape, device=device, generator=generator)
        x = (0.5 + 0.1 * (2 * u - 1))
    else:
        validate.images(start, "start")
        x = start.detach().to(device).clone()
    labels = _labels(target, x, "target")
    probs = []
    with runtime.eval_mode(model, eval_mode):
        for _ in runtime.progress(range(int(steps)), desc="fooling image", leave=False, disable=not progress):
            _, grad, logits = loss_and_grad(model, x, labels, targeted=True)
            p = logits.softmax(1).gather(1, labels[:, None])[:, 0]
            probs.append(p.cpu())
            if bool((p >= threshold).all()):
                break
            x = (x + lr * grad.sign()).clamp(0, 1)
        else:
            with torch.no_grad():
                p = model(x).float().softmax(1).gather(1, labels[:, None])[:, 0]
            probs.append(p.cpu())
    return x.detach(), probs


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict_labels(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Top-1 labels ``(N,)`` in eval mode (mode restored). x: (N, C, H, W) in [0, 1]."""
    validate.images(x, "x")
    batch_size = validate.integer(batch_size, "batch_size")
    with runtime.eval_mode(model):
        return torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack=None,
                    batch_size: int = 256, progress: bool = True) -> float:
    """Fraction of images classified correctly both clean AND after ``attack(model, x, y)``.

    ``attack=None`` gives the clean accuracy. Counting only images that are also correct
    clean is RobustBench's convention. x: (N, C, H, W) in [0, 1]; y: (N,).
    """
    validate.images(x, "x")
    y = _labels(y, x, "labels y")
    batch_size = validate.integer(batch_size, "batch_size")
    correct = 0
    starts = range(0, len(x), batch_size)
    for i in runtime.progress(starts, desc="robust acc", leave=False, disable=not progress or len(starts) < 2):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        ok = predict_labels(model, xb) == yb
        if attack is not None:
            ok &= predict_labels(model, attack(model, xb, yb)) == yb
        correct += int(ok.sum())
    return correct / max(1, len(x))
