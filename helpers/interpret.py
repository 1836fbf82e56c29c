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
* :func:`visualize` (activation maximization with regularizers), :func:`deep_dream`:
  in :mod:`helpers.synthesis`, re-exported here.
* :func:`gram_matrix`, :func:`embed`, :func:`top_activating`, :func:`layers_by_stride`.
"""
from __future__ import annotations

import contextlib
import difflib

import torch
import torch.nn as nn
import torch.nn.functional as F

from .plumbing import validate

MODES = ("backprop", "deconvnet", "guided")


# --------------------------------------------------------------------------- checks
def _check_model(model) -> None:
    if isinstance(model, type) and issubclass(model, nn.Module):
        raise TypeError(f"expected model: an nn.Module instance, got the class {model.__name__}: "
                        f"build one first, e.g. {model.__name__}()")
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected model: an nn.Module, got {type(model).__name__}")


def layer_names(model: nn.Module) -> list[str]:
    """Every named submodule of ``model`` (the valid ``layer`` arguments)."""
    _check_model(model)
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``; a ValueError lists the valid names otherwise."""
    _check_model(model)
    modules = dict(model.named_modules())
    if not isinstance(name, str) or not name or name not in modules:
        names = layer_names(model)
        close = difflib.get_close_matches(str(name), names, n=3)
        raise ValueError(f"unknown layer {name!r}" + (f" (did you mean {', '.join(close)}?)" if close else "")
                         + f". Valid layer names: {', '.join(names)}")
    return modules[name]


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
    _check_model(model)
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


def layers_by_stride(model: nn.Module, layer: str, size: int = 224) -> dict:
    """``{stride: name}``: among ``layer`` and its siblings (the children of the same parent
    module, e.g. the blocks of a ResNet or an EfficientNet), the deepest one at each
    downsampling factor (input ``size`` / map size) for a ``size x size`` input. Spatial layers
    only, in the model's order; depth without assuming an architecture."""
    _check_model(model)
    get_layer(model, layer)
    parent = layer.rsplit(".", 1)[0] if "." in layer else ""
    siblings = [n for n in layer_names(model) if (n.rsplit(".", 1)[0] if "." in n else "") == parent]
    with capture(model, siblings) as rec, torch.no_grad():
        model(torch.rand(1, 3, size, size, device=_device(model)))
    ladder = {}
    for name in siblings:                                  # in order: a deeper one overwrites
        out = rec.get(name)
        if out is not None and out.ndim == 4 and out.shape[-1] > 1:
            ladder[size // out.shape[-1]] = name
    return dict(sorted(ladder.items()))


def activations(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """Output of ``layer`` for ``x`` (no gradients): e.g. ``(N, C, h, w)``."""
    x = validate.images(x, "x")
    with torch.no_grad():
        return forward_to(model, x.to(_device(model)), [layer])[layer]


def embed(model: nn.Module, x: torch.Tensor, layer: str, batch_size: int = 256) -> torch.Tensor:
    """Features ``(N, D)`` of ``layer``, globally average-pooled if spatial (for PCA / t-SNE)."""
    validate.images(x, "x", check_range=False)     # the range is checked batch by batch
    batch_size = validate.integer(batch_size, "batch_size")
    out = []
    for i in range(0, len(x), batch_size):
        a = activations(model, x[i:i + batch_size], layer)
        out.append((a.mean((2, 3)) if a.ndim == 4 else a.flatten(1)).cpu())
    return torch.cat(out)


def top_activating(model, x, layer: str, channel: int, k: int = 9, batch_size: int = 256):
    """The ``k`` images of ``x`` that drive ``channel`` of ``layer`` hardest (max over space).

    Returns ``(values (k,), indices (k,), scores (N,))``.
    """
    validate.images(x, "x", check_range=False)     # the range is checked batch by batch
    k = validate.integer(k, "k", meaning="images to return")
    batch_size = validate.integer(batch_size, "batch_size")
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
def relu_backward(x: torch.Tensor, grad: torch.Tensor, mode: str = "backprop",
                  upper: float | None = None) -> torch.Tensor:
    """The gradient a ReLU passes back, given its input ``x`` and the upstream ``grad``.

    backprop: grad * [x > 0]; deconvnet: grad * [grad > 0]; guided: grad * [x > 0] * [grad > 0].
    ``upper`` (6 for ReLU6, whose output is flat above 6): "where the unit was active" is
    ``0 < x < upper`` instead of ``x > 0``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
    active = (x > 0) if upper is None else (x > 0) & (x < upper)
    if mode == "backprop":
        return grad * active
    if mode == "deconvnet":
        return grad.clamp(min=0)
    return grad.clamp(min=0) * active


class _RuleReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, mode, upper):
        ctx.save_for_backward(x)
        ctx.mode, ctx.upper = mode, upper
        return x.clamp(min=0, max=upper)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return relu_backward(x, grad, ctx.mode, ctx.upper), None, None


class RuleReLU(nn.Module):
    """A ReLU (or ReLU6 with ``upper=6``) whose backward pass follows ``mode``
    (``"backprop"``, ``"deconvnet"``, ``"guided"``)."""

    def __init__(self, mode: str = "guided", upper: float | None = None):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
        self.mode, self.upper = mode, upper

    def forward(self, x):
        return _RuleReLU.apply(x, self.mode, self.upper)


@contextlib.contextmanager
def swap_relus(model: nn.Module, mode: str = "guided"):
    """Replace every ``nn.ReLU`` and ``nn.ReLU6`` module by :class:`RuleReLU` for the block;
    always restored. Only activation *modules* are swapped (a functional ``F.relu`` inside
    ``forward`` is not): ResNets and the EfficientNet-Lite of :mod:`helpers.plumbing.effnet_lite` use
    modules for all of theirs.
    """
    rules = {nn.ReLU: RuleReLU(mode), nn.ReLU6: RuleReLU(mode, upper=6.0)}
    swapped = []
    try:
        for parent in model.modules():
            for name, child in list(parent.named_children()):
                if type(child) in rules:
                    setattr(parent, name, rules[type(child)])
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
    x = validate.images(x, "x", channels=3).to(_device(model)).detach().requires_grad_(True)
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
    x = validate.images(x, "x", channels=3).to(_device(model))
    n = validate.integer(n, "n", meaning="noisy copies to average")
    sigma = validate.number(sigma, "sigma", minimum=0, meaning="noise std in pixel units")
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
    x = validate.images(x, "x", channels=3).to(_device(model)).detach().requires_grad_(True)
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
