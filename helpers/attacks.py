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
    succeeds (misclassified, or classified as ``target``), else the highest objective; a restart
    attacks only the images no earlier run has won.
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
        for r in range(int(restarts)):
            todo = (best_score < 1e5).nonzero().flatten()                 # images not yet won
            if len(todo) == 0:
                bar.update((int(restarts) - r) * int(steps))
                break
            xs, ls = x[todo], labels[todo]
            delta = random_in_ball(xs, eps, norm, generator) if random_start else torch.zeros_like(xs)
            delta = clip_box(xs, delta)
            for _ in range(int(steps)):
                _, grad, _ = loss_and_grad(model, xs + delta, ls, targeted, amp)
                delta = clip_box(xs, project(delta + _step(grad, alpha, norm), eps, norm))
                bar.update(1)
            with torch.no_grad():
                logits = model(xs + delta).float()
                loss = F.cross_entropy(logits, ls, reduction="none")
                hit = logits.argmax(1) == ls if targeted else logits.argmax(1) != ls
                score = (-loss if targeted else loss) + 1e6 * hit.float()   # success first
                better = score > best_score[todo]
                best[todo[better]] = (xs + delta)[better]
                best_score[todo] = torch.where(better, score, best_score[todo])
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
        idx = ok.nonzero().flatten()                # only images right clean can count: attack those
        if attack is not None and len(idx):
            ok[idx] = predict_labels(model, attack(model, xb[idx], yb[idx])) == yb[idx]
        correct += int(ok.sum())
    return correct / max(1, len(x))


# --------------------------------------------------------------------------- AutoAttack's APGD
def dlr_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Difference-of-logits-ratio loss of Croce & Hein (2020), per image ``(N,)``.

    Untargeted: ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)``; targeted (APGD-T):
    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``, with ``z_pi1 >= z_pi2 >= ...`` the sorted
    logits. Dividing by a difference of logits makes it invariant to a rescaling of the logits,
    so a network cannot hide behind saturated, tiny cross-entropy gradients. Needs >= 3 classes
    (>= 4 targeted). logits: (N, K); y, target: (N,).
    """
    if logits.dim() != 2 or logits.shape[1] < (3 if target is None else 4):
        raise ValueError(f"expected logits: (N, K) with K >= {3 if target is None else 4} classes "
                         f"(the DLR loss divides by z_pi1 - z_pi3), got shape {tuple(logits.shape)}")
    z, _ = logits.sort(dim=1)
    rows = torch.arange(len(y), device=logits.device)
    z_y = logits[rows, y]
    if target is None:
        top_is_y = (logits.argmax(1) == y).float()
        other = z[:, -2] * top_is_y + z[:, -1] * (1 - top_is_y)
        return -(z_y - other) / (z[:, -1] - z[:, -3] + 1e-12)
    return -(z_y - logits[rows, target]) / (z[:, -1] - 0.5 * z[:, -3] - 0.5 * z[:, -4] + 1e-12)


def apgd(model: nn.Module, x: torch.Tensor, y, eps: float, steps: int = 100, loss: str = "ce",
         target_rank: int | None = None, rho: float = 0.75, eval_mode: bool = True,
         generator=None) -> torch.Tensor:
    """Auto-PGD in the L-inf ball (Croce & Hein 2020, the attacks of AutoAttack), one run.

    PGD without a step size to tune: it starts at ``2 eps``, adds momentum 0.75, and at the
    checkpoints ``p_j`` (after 22%, then ever shorter stretches of the budget) halves the step
    and restarts from the best point found whenever the loss rose in fewer than ``rho`` of the
    steps since the last checkpoint (or did not improve at all). ``loss="ce"`` (APGD-CE) or
    ``"dlr"`` (APGD-DLR); ``target_rank=k`` runs APGD-T: the targeted DLR loss towards the class
    ranked ``k`` (2 = runner-up) by the clean logits. It follows ``torchattacks.APGD`` /
    ``APGDT`` 3.5.1 step for step (``tests/test_oracles.py`` checks that they agree), with the
    random start drawn from ``generator``. Returns, per image, the last iterate that was
    misclassified, else the point of highest loss. x: (N, C, H, W) in [0, 1]; y: (N,).
    """
    x, y, _, eps = _attack_inputs(x, y, None, eps)
    steps = validate.integer(steps, "steps", meaning="APGD iterations")
    if loss not in ("ce", "dlr"):
        raise ValueError(f"expected loss: 'ce' or 'dlr', got {loss!r}")
    if eps == 0 or len(x) == 0:
        return x.clone()
    k_first, k_min, k_decr = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    with runtime.eval_mode(model, eval_mode):
        target = None
        if target_rank is not None:
            with torch.no_grad():
                target = model(x).sort(dim=1)[1][:, -int(target_rank)]
        if loss == "ce" and target is None:
            objective = lambda z: F.cross_entropy(z, y, reduction="none")   # noqa: E731
        else:
            objective = lambda z: dlr_loss(z, y, target)                     # noqa: E731

        def value_and_grad(xa):
            xa = xa.detach().requires_grad_(True)
            z = model(xa)
            ell = objective(z)
            (g,) = torch.autograd.grad(ell.sum(), xa)
            return ell.detach(), g.detach(), z.detach()

        t = 2 * torch.rand(x.shape, generator=generator, device=x.device if generator is None
                           else generator.device).to(x.device) - 1
        x_adv = (x + eps * t / t.flatten(1).abs().amax(1).view(-1, 1, 1, 1)).clamp(0, 1)
        x_best, x_best_adv = x_adv.clone(), x_adv.clone()
        ell, grad, z = value_and_grad(x_adv)
        grad_best, loss_best = grad.clone(), ell.clone()
        robust = z.argmax(1) == y
        losses = torch.zeros(steps, len(x))
        step = torch.full((len(x), 1, 1, 1), 2.0 * eps, device=x.device)
        x_old = x_adv.clone()
        k, since_check = k_first, 0
        best_at_check, reduced_at_check = loss_best.clone(), torch.ones(len(x), dtype=torch.bool)
        for i in range(steps):
            with torch.no_grad():
                momentum = x_adv - x_old
                x_old = x_adv.clone()
                a = 0.75 if i > 0 else 1.0
                z1 = torch.min(torch.max(x_adv + step * grad.sign(), x - eps), x + eps).clamp(0, 1)
                x_adv = torch.min(torch.max(x_adv + (z1 - x_adv) * a + momentum * (1 - a), x - eps),
                                  x + eps).clamp(0, 1)
            ell, grad, z = value_and_grad(x_adv)
            fooled = z.argmax(1) != y
            robust &= ~fooled
            x_best_adv[fooled] = x_adv[fooled]
            losses[i] = ell.cpu()
            better = ell > loss_best
            x_best[better], grad_best[better], loss_best[better] = x_adv[better], grad[better], ell[better]
            since_check += 1
            if since_check == k:
                # steps since the last checkpoint on which the loss rose (row -1 is the last,
                # still zero, row at the first checkpoint, as in torchattacks)
                rose = sum((losses[i - c] > losses[i - c - 1]).long() for c in range(k))
                oscillating = rose <= k * rho
                stuck = ~reduced_at_check & (best_at_check >= loss_best.cpu())
                halve = (oscillating | stuck).to(x.device)
                reduced_at_check, best_at_check = halve.cpu().clone(), loss_best.cpu().clone()
                step[halve] /= 2.0
                x_adv[halve], grad[halve] = x_best[halve], grad_best[halve]
                since_check, k = 0, max(k - k_decr, k_min)
    return torch.where(robust.view(-1, 1, 1, 1), x_best, x_best_adv).detach()


def autoattack(model: nn.Module, x: torch.Tensor, y, eps: float, steps: int = 100,
               n_targets: int = 9, generator=None, progress: bool = False) -> torch.Tensor:
    """AutoAttack's gradient attacks in sequence (Croce & Hein 2020): APGD-CE, then APGD-T
    towards each of the ``n_targets`` classes ranked 2, 3, ... by the clean logits, every run
    only on the images that are still classified correctly. The published ensemble ("standard"
    AutoAttack: ``steps=100``, ``n_targets=9``) adds FAB-T and the black-box Square attack,
    which change RobustBench's numbers by a few tenths of a point for networks without
    gradient masking. x: (N, C, H, W) in [0, 1]; y: (N,). Returns adversarial images in [0, 1].
    """
    x, y, _, eps = _attack_inputs(x, y, None, eps)
    out = x.clone()
    with torch.no_grad(), runtime.eval_mode(model):
        alive = model(x).argmax(1) == y
    runs = [("ce", None)] + [("dlr", r) for r in range(2, 2 + int(n_targets))]
    for loss, rank in runtime.progress(runs, desc="AutoAttack (APGD)", leave=False, disable=not progress):
        idx = alive.nonzero().flatten()
        if len(idx) == 0:
            break
        xa = apgd(model, x[idx], y[idx], eps, steps=steps, loss=loss, target_rank=rank, generator=generator)
        with torch.no_grad(), runtime.eval_mode(model):
            fooled = model(xa).argmax(1) != y[idx]
        out[idx[fooled]] = xa[fooled]
        alive[idx[fooled]] = False
    return out.detach()


# --------------------------------------------------------------------------- adversarial training
class FGSMRSTraining:
    """``step_hook`` for :func:`helpers.train.fit`: fast adversarial training with Wong et al.'s
    safeguard against catastrophic overfitting (Wong, Rice & Kolter 2020, "Fast is better than free").

    Each call replaces the batch by FGSM from a uniform random start with step ``alpha``
    (``1.25 eps`` in the paper), run in train mode. Every ``check_every`` batches it measures
    PGD-``check_steps`` accuracy at ``eps`` on a fixed held-out batch ``(check_x, check_y)``
    and keeps a copy of the weights whenever that is the best so far. Catastrophic overfitting
    (FGSM-trained networks suddenly losing all PGD robustness within a few batches while their
    FGSM accuracy soars) shows as a collapse of this number; :meth:`finish` then restores the
    best weights: Wong et al.'s early stopping. ``history``: ``(batch, clean acc, PGD acc)``.
    """

    def __init__(self, eps: float, alpha: float, check_x: torch.Tensor, check_y: torch.Tensor,
                 check_every: int = 50, check_steps: int = 10, collapse: float = 0.2,
                 generator=None):
        self.eps, self.alpha = check_eps(eps), float(alpha)
        validate.images(check_x, "check_x")
        self.check_x, self.check_y = check_x, _labels(check_y, check_x, "check_y")
        self.check_every = validate.integer(check_every, "check_every", meaning="batches between checks")
        self.check_steps, self.collapse, self.generator = int(check_steps), float(collapse), generator
        self.batches, self.history = 0, []
        self.best_robust, self.best_state = -1.0, None

    def __call__(self, model, x, y):
        self.batches += 1
        if self.batches % self.check_every == 0:
            self.check(model)
        return fgsm(model, x, y, self.eps, random_start=True, alpha=self.alpha, eval_mode=False,
                    generator=self.generator)

    def check(self, model) -> float:
        """PGD accuracy on the check batch now (eval mode; the model's mode is restored)."""
        xc, yc = self.check_x.to(next(model.parameters()).device), self.check_y.to(next(model.parameters()).device)
        attack = lambda m, a, b: pgd(m, a, b, self.eps, steps=self.check_steps, alpha=2.5 * self.eps / self.check_steps,
                                     generator=self.generator)   # noqa: E731
        clean = robust_accuracy(model, xc, yc, progress=False)
        robust = robust_accuracy(model, xc, yc, attack, progress=False)
        self.history.append((self.batches, clean, robust))
        if robust >= self.best_robust:
            self.best_robust = robust
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return robust

    def finish(self, model) -> bool:
        """Check once more after the last batch; if PGD accuracy has fallen more than
        ``collapse`` below its best (catastrophic overfitting), load the best weights.
        Returns whether it restored them."""
        last = self.check(model)
        if last < self.best_robust - self.collapse and self.best_state is not None:
            model.load_state_dict(self.best_state)
            return True
        return False


def cached_model(name: str, made_from: dict, build, train_fn, verbose: bool = True):
    """``(model, info, reused)``: a trained model saved under the checkpoints folder as
    ``name.pt``, reused only when it was made from ``made_from`` (data, recipe), else
    ``model = build()`` trained now by ``info = train_fn(model)`` and saved with its provenance
    (:mod:`helpers.plumbing.artifacts`). ``info``: numbers, strings, lists and dicts only.
    """
    from .plumbing import artifacts

    path = artifacts.checkpoint_dir() / f"{name}.pt"
    payload = artifacts.load(path, made_from, what=name, action="training it again")
    model = build()
    if payload is not None:
        model.load_state_dict(payload["state"])
        if verbose:
            print(f"[{name}] reusing the model trained earlier from the same data and recipe ({path.name})")
        return model.eval(), payload["info"], True
    info = train_fn(model)
    artifacts.save_model(path, model, made_from, info=info)
    return model.eval(), info, False



def weights_digest(model: nn.Module) -> str:
    """A short hash of a model's parameters and buffers: what a cached evaluation was made from."""
    from .plumbing import artifacts

    return artifacts.digest(*model.state_dict().values())


def cached_result(name: str, made_from: dict, compute, verbose: bool = True):
    """``(result, reused)``: ``compute()``'s result (numbers, strings, lists and dicts only), saved
    under the checkpoints folder as ``name.pt`` with its provenance and reused only when it was
    made from ``made_from`` (e.g. the data, the evaluated models' :func:`weights_digest`, the
    attack settings): an evaluation is not run again on a rerun that would give the same table.
    """
    from .plumbing import artifacts

    path = artifacts.checkpoint_dir() / f"{name}.pt"
    payload = artifacts.load(path, made_from, what=name, action="computing it again")
    if payload is not None:
        if verbose:
            print(f"[{name}] reusing the result computed earlier from the same models, data and settings "
                  f"({path.name})")
        return payload["result"], True
    result = compute()
    artifacts.save(path, {"result": result}, made_from)
    return result, False


# --------------------------------------------------------------------------- notebook 04's thresholds
# Each claim of notebook 04 reads as one line there; the reasons for its thresholds live here.

#: top-1 / top-5 floors on the ImageNet sample. Published ILSVRC-validation figures: ResNet18
#: 69.8% / 89.1% (torchvision), EfficientNet-Lite0 75.1% top-1 (TensorFlow's Lite release; no
#: top-5 published). With >= 100 photos the standard error is <= 4.6 points, so the floors sit about
#: two standard errors below the weaker network. Chance: 0.1% / 0.5%.
SAMPLE_TOP1_FLOOR, SAMPLE_TOP5_FLOOR = 0.60, 0.80

#: published ILSVRC-2012 validation accuracy (single 224 centre crop) of the networks notebook 04 may
#: run, by readable name: (top-1, top-5 or None, where it is published)
PUBLISHED_IMAGENET = {
    "ResNet18": (0.698, 0.891, "torchvision's ResNet18_Weights.IMAGENET1K_V1"),
    "DenseNet121": (0.744, 0.920, "torchvision's DenseNet121_Weights.IMAGENET1K_V1"),
    "EfficientNet-Lite0": (0.751, None, "TensorFlow's EfficientNet-Lite release (top-1 only)"),
    "EfficientNet-Lite1": (0.767, None, "TensorFlow's EfficientNet-Lite release (top-1 only)"),
}

#: top-5 error of the two human annotators of the ILSVRC paper (Russakovsky et al. 2015, sec. 6.4):
#: annotator A trained on 500 images and labelled 1,500 test images; annotator B labelled 258 (deck 003 agrees)
HUMAN_TOP5_ERROR = {"annotator A (1,500 test images)": 0.051,
                    "annotator B (258 test images)": 0.120}

#: severity 3 of every corruption must cost >= 20 points of top-1: ImageNet-C (Hendrycks & Dietterich
#: 2019) reports errors far above clean for every standard CNN at these levels; 20 points leaves room
#: for the sampling error of a few dozen photos
CORRUPTION_MIN_DROP = 0.20

#: random noise of the attack's size may change at most this share of answers on correctly
#: classified photos: an answer flipped by noise the size of a JPEG artefact was already on a boundary
NOISE_MAX_FLIPS = 0.20

#: PGD-10 at 4/255 (L-inf) and PGD-20 at L2 radius 1.0 (224 x 224) must fool this share of a standard
#: ImageNet network's correctly classified photos. RobustBench and MadryLab's `robustness` report
#: ~0% robust accuracy at 4/255 and a few percent at L2 0.5-1.0 (ResNet-50: 3.35% at 0.5, 0.44% at 1.0)
PGD_LINF_MIN_FOOLED, PGD_L2_MIN_FOOLED = 0.95, 0.90

#: targeted PGD-20 at 8/255 must reach the target on this share of photos
TARGETED_MIN_HIT = 0.80

#: first-order prediction of a logit change over a tenth of a grey level: the measured change must
#: be within this band of it (piecewise-linear networks, ReLU or ReLU6, are linear on such a step)
LINEAR_BAND = (0.6, 1.4)

#: non-targeted transfer rate at 16/255: Liu et al. (2017) report well above half between ImageNet
#: architectures at comparable budgets; the noise control must stay below it
TRANSFER_MIN_RATE = 0.30

#: AutoAttack may find at most this many points more than PGD with restarts (absolute robust
#: accuracy). RobustBench's entry for Wong et al.'s FGSM-RS model: PGD-50x10 46.1%, AutoAttack 43.2%:
#: 2.9 points. A larger gap means PGD's gradients are misleading: gradient masking (Athalye et al.
#: 2018), and PGD numbers of that model cannot be trusted
PGD_AA_MARGIN = 0.05

#: an FGSM-RS network of notebook 04's cpu recipe (width 16, 20,000 images, 3 epochs) must reach this
#: clean accuracy on CIFAR-10 test images (chance 10%); Madry et al. and Wong et al. reach 87% / 86%
#: with 10x-60x wider networks trained on all 50,000 images for 15-200 epochs
ROBUST_MIN_CLEAN = 0.40


def standard_error(p: float, n: int) -> float:
    """Standard error of an accuracy ``p`` measured on ``n`` independent images."""
    p = validate.number(p, "p", minimum=0, maximum=1, meaning="an accuracy")
    n = validate.integer(n, "n", meaning="images measured")
    return math.sqrt(max(p * (1 - p), 0.0) / max(int(n), 1))


# --------------------------------------------------------------------------- linearity
def margin_gradient(model: nn.Module, x: torch.Tensor, y) -> tuple[torch.Tensor, torch.Tensor]:
    """The logit margin ``m = z_y - max_{i != y} z_i`` ``(N,)`` and its input gradient ``(N, C, H, W)``.

    To first order an L-inf step of size ``t`` against the gradient's sign lowers the margin by
    ``t * ||grad m||_1``: Goodfellow et al.'s ``eps * ||w||_1``, which grows with the number of
    inputs. ``linear_flip_budget`` turns it into the step at which the straight line reaches 0.
    """
    validate.images(x, "x")
    y = _labels(y, x, "labels y")
    with runtime.eval_mode(model):
        xg = x.detach().requires_grad_(True)
        z = model(xg).float()
        z_y = z.gather(1, y[:, None])[:, 0]
        z_other = z.scatter(1, y[:, None], -math.inf).amax(1)
        m = z_y - z_other
        (g,) = torch.autograd.grad(m.sum(), xg)
    return m.detach(), g.detach()


def linear_flip_budget(model: nn.Module, x: torch.Tensor, y) -> torch.Tensor:
    """``m / ||grad m||_1`` per image ``(N,)``, in pixel units (x 255 for grey levels): the L-inf
    budget at which the first-order (straight-line) prediction says the answer flips."""
    m, g = margin_gradient(model, x, y)
    return m / g.flatten(1).abs().sum(1).clamp_min(1e-12)


# --------------------------------------------------------------------------- figures of notebook 04
def show_top5(images, top5, names, title: str):
    """Each photo above a bar chart of its five most probable classes (true class in green).
    ``top5``: per photo a list of ``(class name, probability)``, as ``pretrained.top_k`` gives."""
    import matplotlib.pyplot as plt

    from . import plots

    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(3.4 * n, 4.8), gridspec_kw=dict(height_ratios=[2.2, 1.4]))
    for i in range(n):
        axes[0, i].imshow(plots.to_numpy_image(images[i]))
        axes[0, i].set_title(names[i][:24], fontsize=12)
        axes[0, i].axis("off")
        labels, probs = zip(*top5[i])
        colors = ["tab:green" if lab == names[i] else "tab:blue" for lab in labels]
        axes[1, i].barh(range(5)[::-1], probs, color=colors)
        for j, q in enumerate(probs):
            axes[1, i].text(q + 0.02, 4 - j, f"{q:.2f}", va="center", fontsize=11)
        axes[1, i].set_yticks(range(5)[::-1], [s[:18] for s in labels], fontsize=11)
        axes[1, i].set_xlim(0, 1.25)
        axes[1, i].set_xlabel("probability", fontsize=11)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    return fig


def show_attack(x, x_adv, model, classes, title: str, target: int | None = None):
    """Rows of: original (answer, probability) | the perturbation, amplified | adversarial image.
    The adversarial answer is red when the attack succeeded (changed, or reached ``target``)."""
    import matplotlib.pyplot as plt

    from . import plots

    n = len(x)
    with torch.no_grad(), runtime.eval_mode(model):
        p0, p1 = model(x).softmax(1), model(x_adv).softmax(1)
    fig, axes = plt.subplots(n, 3, figsize=(10, 3.4 * n), squeeze=False)
    for i in range(n):
        d = x_adv[i] - x[i]
        amp = d.abs().max().clamp_min(1e-12)
        c0, c1 = int(p0[i].argmax()), int(p1[i].argmax())
        hit = c1 == target if target is not None else c1 != c0
        panels = [(x[i], f"{classes[c0][:20]} {p0[i, c0]:.2f}", "black"),
                  (0.5 + 0.5 * d / amp, f"perturbation x{0.5 / amp:.0f}\n(max {amp * 255:.1f}/255)", "black"),
                  (x_adv[i], f"{classes[c1][:20]} {p1[i, c1]:.2f}", "tab:red" if hit else "black")]
        for ax, (img, t, col) in zip(axes[i], panels):
            ax.imshow(plots.to_numpy_image(img))
            ax.set_title(t, color=col, fontsize=12)
            ax.axis("off")
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    return fig


def sample_photo(name: str, size: int = 224):
    """``(image (3, size, size) in [0, 1], ImageNet class index)`` of the ImageNet sample's photo of
    class ``name`` (e.g. ``"daisy"``, deck 000's example), preprocessed like
    :func:`helpers.photos.imagenet_photos`; ``None`` where the sample has no such class or the
    file is not on disk (offline without the sample)."""
    import numpy as np
    from PIL import Image

    from . import photos

    files = photos.imagenet_sample_files()
    hits = [i for i, f in enumerate(files) if f.split("_", 1)[1].rsplit(".", 1)[0].replace("_", " ") == name]
    if not hits:
        return None
    path = runtime.data_dir() / "imagenet-sample" / files[hits[0]]
    if not path.exists():
        return None
    with Image.open(path) as im:
        img = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return photos.imagenet_preprocess(img, resize=round(size * 256 / 224), crop=size), hits[0]
