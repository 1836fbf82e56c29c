"""Looking inside a CNN: layers by name, hooks that always come off, gradient-based maps.

Introduced in notebook 03 (feature visualization); notebook 04 reuses the saliency maps and
notebook 07 the embeddings. Works on any ``nn.Module`` whose layers have names, e.g. the
ImageNet models of :mod:`helpers.pretrained` (``"net.layer3.1"``) and the CIFAR net of
:mod:`helpers.models` (``"block2"``). Images are ``x: (N, 3, H, W) float in [0, 1]``.

* :func:`capture` - a context manager recording layer outputs (forward hooks) and, on
  request, their gradients (``register_full_backward_hook``); the hooks are removed on exit
  even when the body raises, so re-running a cell never stacks hooks.
* :func:`relu_backward`, :func:`swap_relus` - backprop / deconvnet / guided backprop ReLUs.
* :func:`saliency`, :func:`smoothgrad`, :func:`guided_backprop`, :func:`grad_cam`.
* :func:`visualize` (activation maximization with regularizers), :func:`deep_dream`.
* :func:`gram_matrix`, :func:`embed`, :func:`top_activating`.
"""
from __future__ import annotations

import contextlib
import difflib

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

MODES = ("backprop", "deconvnet", "guided")


# --------------------------------------------------------------------------- checks
def layer_names(model: nn.Module) -> list[str]:
    """Every named submodule of ``model`` (the valid ``layer`` arguments)."""
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``; a ValueError lists the valid names otherwise."""
    modules = dict(model.named_modules())
    if not isinstance(name, str) or not name or name not in modules:
        names = layer_names(model)
        close = difflib.get_close_matches(str(name), names, n=3)
        raise ValueError(f"unknown layer {name!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")
                         + f". Valid layer names: {', '.join(names)}")
    return modules[name]


def check_image(x, channels: int | None = 3) -> torch.Tensor:
    """Validate ``x: (N, C, H, W) float in [0, 1]`` (C = ``channels``) and return it."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor (N, C, H, W) in [0, 1], got {type(x).__name__}")
    if x.ndim != 4:
        hint = " (one image? use x[None])" if x.ndim == 3 else ""
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}{hint}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"expected {channels} channels (N, {channels}, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"expected float pixels in [0, 1], got dtype {x.dtype} (divide uint8 by 255)")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-4 or hi > 1 + 1e-4:
        raise ValueError(f"expected pixels in [0, 1], got range [{lo:.3g}, {hi:.3g}]: pass raw "
                         "pixels (the models normalize inside), not normalized tensors")
    return x


def _check_index(value: int, size: int, what: str, where: str) -> int:
    if not isinstance(value, int) or not 0 <= value < size:
        raise ValueError(f"{what} {value!r} is out of range: {where} has {size}, so {what} "
                         f"must be an integer in [0, {size - 1}]")
    return value


def _device(model):
    return next(model.parameters()).device


# --------------------------------------------------------------------------- hooks
@contextlib.contextmanager
def no_inplace(model: nn.Module):
    """Temporarily make every in-place ReLU out-of-place (hooks need unmodified tensors)."""
    changed = [m for m in model.modules() if isinstance(m, nn.ReLU) and m.inplace]
    for m in changed:
        m.inplace = False
    try:
        yield model
    finally:
        for m in changed:
            m.inplace = True


class _Stop(Exception):
    """Raised by a hook to end a forward pass once every requested layer has run."""


@contextlib.contextmanager
def capture(model: nn.Module, layers, grads: bool = False, detach: bool = True, stop: bool = False):
    """Record outputs (and with ``grads=True`` output gradients) of the named layers.

    >>> with capture(model, ["net.layer3"]) as rec:      # doctest: +SKIP
    ...     model(x)
    >>> rec["net.layer3"].shape                           # (N, C, H, W)

    Gradients land in ``rec["grad:<name>"]`` after a backward pass inside the block. Every
    hook is removed when the block ends, also when it raises. ``stop=True`` ends the forward
    pass (with ``_Stop``) once all layers have run: use :func:`forward_to` for that.
    """
    layers = [layers] if isinstance(layers, str) else list(layers)
    modules = {name: get_layer(model, name) for name in layers}
    rec, handles = {}, []

    def fwd(name):
        def hook(module, inputs, output):
            # a copy: a later in-place op (ReLU(inplace=True), `out += x`) must not change it
            rec[name] = output.detach().clone() if detach else output.clone()
            if stop and all(n in rec for n in modules):
                raise _Stop
        return hook

    def bwd(name):
        def hook(module, grad_input, grad_output):
            rec["grad:" + name] = grad_output[0].detach()
        return hook

    with contextlib.ExitStack() as stack:
        if grads:
            stack.enter_context(no_inplace(model))
        try:
            for name, module in modules.items():
                handles.append(module.register_forward_hook(fwd(name)))
                if grads:
                    handles.append(module.register_full_backward_hook(bwd(name)))
            yield rec
        finally:
            for h in handles:
                h.remove()


def forward_to(model: nn.Module, x: torch.Tensor, layers) -> dict:
    """Outputs of the named layers (with gradients), computing no more of ``model`` than needed."""
    with capture(model, layers, detach=False, stop=True) as rec:
        try:
            model(x)
        except _Stop:
            pass
    return rec


def activations(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """Output of ``layer`` for ``x`` (no gradients): e.g. ``(N, C, h, w)``."""
    x = check_image(x, None)
    with torch.no_grad():
        return forward_to(model, x.to(_device(model)), [layer])[layer]


def embed(model: nn.Module, x: torch.Tensor, layer: str, batch_size: int = 256) -> torch.Tensor:
    """Features ``(N, D)`` of ``layer``, globally average-pooled if spatial (for PCA / t-SNE)."""
    out = []
    for i in range(0, len(x), batch_size):
        a = activations(model, x[i:i + batch_size], layer)
        out.append((a.mean((2, 3)) if a.ndim == 4 else a.flatten(1)).cpu())
    return torch.cat(out)


def top_activating(model, x, layer: str, channel: int, k: int = 9, batch_size: int = 256):
    """The ``k`` images of ``x`` that drive ``channel`` of ``layer`` hardest (max over space).

    Returns ``(values (k,), indices (k,), scores (N,))``.
    """
    scores = []
    for i in range(0, len(x), batch_size):
        a = activations(model, x[i:i + batch_size], layer)
        _check_index(channel, a.shape[1], "channel", f"layer {layer!r}")
        scores.append(a[:, channel].flatten(1).amax(1).cpu())
    scores = torch.cat(scores)
    values, indices = scores.topk(min(k, len(scores)))
    return values, indices, scores


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``G = F F^T / (H W)`` of features ``f: (N, C, H, W)`` -> ``(N, C, C)``."""
    if f.ndim != 4:
        raise ValueError(f"expected features (N, C, H, W), got {tuple(f.shape)}")
    flat = f.flatten(2)                                   # (N, C, HW)
    return flat @ flat.transpose(1, 2) / flat.shape[2]


# --------------------------------------------------------------------------- ReLU rules
def relu_backward(x: torch.Tensor, grad: torch.Tensor, mode: str = "backprop") -> torch.Tensor:
    """The gradient a ReLU passes back, given its input ``x`` and the upstream ``grad``.

    backprop: grad * [x > 0]; deconvnet: grad * [grad > 0]; guided: grad * [x > 0] * [grad > 0].
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "backprop":
        return grad * (x > 0)
    if mode == "deconvnet":
        return grad.clamp(min=0)
    return grad.clamp(min=0) * (x > 0)


class _RuleReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, mode):
        ctx.save_for_backward(x)
        ctx.mode = mode
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return relu_backward(x, grad, ctx.mode), None


class RuleReLU(nn.Module):
    """A ReLU whose backward pass follows ``mode`` (``"backprop"``, ``"deconvnet"``, ``"guided"``)."""

    def __init__(self, mode: str = "guided"):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
        self.mode = mode

    def forward(self, x):
        return _RuleReLU.apply(x, self.mode)


@contextlib.contextmanager
def swap_relus(model: nn.Module, mode: str = "guided"):
    """Replace every ``nn.ReLU`` module by :class:`RuleReLU` for the block; always restored.

    Only ReLU *modules* are swapped (a functional ``F.relu`` inside ``forward`` is not).
    """
    rule = RuleReLU(mode)
    swapped = []
    try:
        for parent in model.modules():
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.ReLU):
                    setattr(parent, name, rule)
                    swapped.append((parent, name, child))
        yield model
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


# --------------------------------------------------------------------------- maps
def _score(model, x, target=None, layer=None, channel=None):
    """Per-image scalar: class logit ``target``, or mean of ``channel`` of ``layer``."""
    if layer is None:
        logits = model(x)
        if target is None:
            target = logits.argmax(1)
        elif isinstance(target, int):
            _check_index(target, logits.shape[1], "target class", "the model's output")
            target = torch.full((len(x),), target, device=x.device)
        return logits.gather(1, torch.as_tensor(target, device=x.device).view(-1, 1))[:, 0]
    a = forward_to(model, x, [layer])[layer]
    if channel is None:
        return a.flatten(1).mean(1)
    _check_index(channel, a.shape[1], "channel", f"layer {layer!r}")
    return a[:, channel].flatten(1).mean(1)


def input_gradient(model, x, target=None, layer=None, channel=None) -> torch.Tensor:
    """d score / d x, ``(N, 3, H, W)``; the score as in :func:`saliency`."""
    x = check_image(x).to(_device(model)).detach().requires_grad_(True)
    with no_inplace(model):
        score = _score(model, x, target, layer, channel)
        (grad,) = torch.autograd.grad(score.sum(), x)
    return grad


def saliency(model, x, target=None, layer=None, channel=None) -> torch.Tensor:
    """Simonyan et al. saliency ``max_rgb |dS/dx|``: ``(N, H, W)``. target None: predicted class."""
    return input_gradient(model, x, target, layer, channel).abs().amax(1)


def smoothgrad(model, x, target=None, n: int = 16, sigma: float = 0.15, seed: int = 0,
               layer=None, channel=None) -> torch.Tensor:
    """SmoothGrad (Smilkov et al.): saliency averaged over ``n`` noisy copies (noise std
    ``sigma`` in pixel units; copies may leave [0, 1], the model does not mind). ``(N, H, W)``."""
    x = check_image(x).to(_device(model))
    if target is None and layer is None:
        with torch.no_grad():
            target = model(x).argmax(1)
    g = torch.Generator(device=x.device).manual_seed(seed)
    total = 0
    for _ in range(n):
        noisy = (x + sigma * torch.randn(x.shape, generator=g, device=x.device)).requires_grad_(True)
        with no_inplace(model):
            (grad,) = torch.autograd.grad(_score(model, noisy, target, layer, channel).sum(), noisy)
        total = total + grad.abs().amax(1)
    return total / n


def guided_backprop(model, x, target=None, layer=None, channel=None, mode: str = "guided"):
    """Input gradient ``(N, 3, H, W)`` with every ReLU module following ``mode``."""
    with swap_relus(model, mode):
        return input_gradient(model, x, target, layer, channel)


def grad_cam(model, x, layer: str, target=None) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al.): ``relu(sum_k w_k A_k)``, ``w_k`` = mean gradient of the
    class score over channel k of ``layer``; upsampled to ``(N, H, W)``, each map scaled to [0, 1]."""
    x = check_image(x).to(_device(model)).detach().requires_grad_(True)
    try:
        with capture(model, [layer], grads=True) as rec:
            _score(model, x, target).sum().backward()
    except RuntimeError as err:
        if "inplace" not in str(err):
            raise
        raise ValueError(f"the output of layer {layer!r} is modified in place by the model (e.g. "
                         "`out += identity` after a BatchNorm), so its gradient cannot be hooked: "
                         "pick a block output such as 'net.layer4' or a conv layer") from err
    a, g = rec[layer], rec["grad:" + layer]                      # (N, C, h, w) each
    cam = F.relu((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    return cam / cam.flatten(1).amax(1).clamp(min=1e-12).view(-1, 1, 1)


# --------------------------------------------------------------------------- synthesis
def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)`` with reflect padding (radius 2 sigma)."""
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
        for step in tqdm(range(steps), desc="activation max", disable=not progress, leave=False):
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
    x = check_image(x).to(_device(model))
    if len(x) != 1:
        raise ValueError(f"deep_dream takes one image (1, 3, H, W), got {tuple(x.shape)}")
    g = torch.Generator().manual_seed(seed)
    sizes = [tuple(int(round(s / scale ** k)) for s in x.shape[2:]) for k in reversed(range(octaves))]
    detail, history = torch.zeros_like(x), []
    with no_inplace(model):
        for size in tqdm(sizes, desc="octaves", disable=not progress, leave=False):
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
