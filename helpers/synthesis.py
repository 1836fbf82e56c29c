"""Images made by gradient ascent: activation maximization and DeepDream (notebook 03).

``visualize`` solves ``argmax_I S_c(I) - lambda ||I||^2`` for a class score or a channel's mean
activation, with the four regularizers of Yosinski et al. (2015): L2 decay, periodic Gaussian
blur, clipping pixels of small norm and pixels of small contribution; and random jitter
(Mordvintsev et al. 2015). ``render`` is the recipe of Olah et al. (2017): a Fourier, colour-
decorrelated parameterization and random transformations. ``deep_dream`` amplifies a
layer, ``I* = argmax sum_i f_i(I)^2``, over several octaves (scales). Images are
``(N, 3, H, W) float in [0, 1]``; layer names and hooks come from :mod:`helpers.interpret`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import runtime
from .plumbing import validate
from .interpret import _device, _score, capture, forward_to, no_inplace  # noqa: F401


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
              clip_pixels: float = 0.0, clip_contrib: float = 0.0, jitter: int = 0,
              init: str = "noise", seed: int = 0, progress: bool = True):
    """Activation maximization ``argmax_I S(I) - l2 ||I - 0.5||^2`` by gradient ascent (Adam).

    S: logit ``target``, or the mean of ``channel`` of ``layer``. The four regularizers of
    Yosinski et al. (2015), on ``delta = I - 0.5`` (their images are mean-subtracted, so "set to
    0" is mid-grey): ``l2`` decay, Gaussian blur every ``blur_every`` steps, and after each step
    setting to 0 the ``clip_pixels`` fraction of pixels with the smallest norm (over RGB) and the
    ``clip_contrib`` fraction with the smallest contribution ``|sum_rgb delta * grad|`` (grad:
    the objective's gradient; the first-order change if the pixel were set to 0; ties at the
    cut included, so a pixel once set to 0, contributing 0, stays grey). ``jitter``: a random shift of up to that
    many pixels at each step (Mordvintsev et al. 2015). Returns ``(image (1, 3, size, size) in
    [0, 1], history)`` with ``history["score"]`` the unregularized S per step.
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
            contribution = (delta * delta.grad).sum(1, keepdim=True).abs().detach()   # (1, 1, H, W)
            opt.step()
            with torch.no_grad():
                delta.clamp_(-0.5, 0.5)
                if blur_every and (step + 1) % blur_every == 0:
                    delta.copy_(gaussian_blur(delta, blur_sigma))
                if clip_pixels:
                    norm = delta.norm(dim=1, keepdim=True)           # (1, 1, H, W)
                    delta.mul_((norm >= norm.flatten().quantile(clip_pixels)).float())
                if clip_contrib:
                    delta.mul_((contribution > contribution.flatten().quantile(clip_contrib)).float())
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


# --------------------------------------------------------------------------- Olah et al. 2017
#: square root of ImageNet's colour covariance (Olah et al. 2017, Lucid): its columns are the
#: three decorrelated colour directions, each scaled by the square root of its variance
COLOR_CORRELATION_SQRT = torch.tensor([[0.26, 0.09, 0.02],
                                       [0.27, 0.00, -0.05],
                                       [0.27, -0.09, 0.03]])
COLOR_MATRIX = COLOR_CORRELATION_SQRT / COLOR_CORRELATION_SQRT.norm(dim=0).max()


def spectrum_scale(size: int, decay: float = 1.0) -> torch.Tensor:
    """``1 / max(|f|, 1/size) ** decay`` for the ``rfft2`` frequencies of a ``size x size``
    image, ``(size, size // 2 + 1)``: natural images have amplitude ~ 1/f, so a parameter of
    the same size at every frequency gives an image with a natural spectrum."""
    size = validate.integer(size, "size", minimum=2, meaning="image side in pixels")
    fy = torch.fft.fftfreq(size)[:, None]
    fx = torch.fft.rfftfreq(size)[None, :]
    return 1.0 / (fy ** 2 + fx ** 2).sqrt().clamp(min=1.0 / size) ** decay


def fourier_image(spectrum: torch.Tensor, size: int, decorrelate: bool = True) -> torch.Tensor:
    """Image ``(N, 3, size, size)`` in (0, 1) from ``spectrum`` ``(N, 3, size, size//2+1, 2)``
    (real and imaginary parts): scale by 1/f, inverse FFT, map the three decorrelated colour
    channels to RGB, sigmoid (as in Lucid: the inverse FFT is orthonormal, divided by 4)."""
    size = validate.integer(size, "size", minimum=2, meaning="image side in pixels")
    scaled = torch.view_as_complex(spectrum) * spectrum_scale(size).to(spectrum.device)
    t = torch.fft.irfft2(scaled, s=(size, size), norm="ortho") / 4
    if decorrelate:
        t = torch.einsum("nchw,dc->ndhw", t, COLOR_MATRIX.to(t.device))
    return torch.sigmoid(t)


def random_transform(img: torch.Tensor, g: torch.Generator, pad: int = 12, jitter: int = 8,
                     scales=tuple(1 + (i - 5) / 50 for i in range(11)),
                     angles=tuple(range(-10, 11)) + (0,) * 5, jitter2: int = 4) -> torch.Tensor:
    """Lucid's ``standard_transforms``: pad with grey, jitter, scale, rotate, jitter again.
    One random draw (from ``g``, on the CPU) for the whole batch."""
    if not isinstance(img, torch.Tensor) or img.dim() != 4:
        raise ValueError(f"expected img: a (N, 3, H, W) tensor, got {getattr(img, 'shape', type(img).__name__)}")
    def pick(options):
        return options[int(torch.randint(len(options), (1,), generator=g))]

    def shift(x, j):
        dy, dx = torch.randint(-j, j + 1, (2,), generator=g).tolist()
        return torch.roll(x, (dy, dx), (2, 3))

    x = F.pad(img, (pad,) * 4, value=0.5)
    x = shift(x, jitter)
    s, angle = pick(scales), pick(angles) * torch.pi / 180
    rot = torch.tensor([[torch.cos(torch.tensor(angle)), -torch.sin(torch.tensor(angle)), 0.0],
                        [torch.sin(torch.tensor(angle)), torch.cos(torch.tensor(angle)), 0.0]])
    size = [len(x), 3] + [int(round(d * s)) for d in x.shape[2:]]
    grid = F.affine_grid(rot.expand(len(x), 2, 3).to(x), size, align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return shift(x, jitter2)


def scores(model, x, targets):
    """Per-image objective: ``targets[i]`` an int (class logit) or ``(layer, channel)``
    (the channel's mean activation)."""
    layers = sorted({t[0] for t in targets if not isinstance(t, int)})
    if any(isinstance(t, int) for t in targets):
        with capture(model, layers, detach=False) as rec:
            logits = model(x)
    else:
        rec = forward_to(model, x, layers)
    return torch.stack([logits[i, t] if isinstance(t, int) else rec[t[0]][i, t[1]].mean()
                        for i, t in enumerate(targets)])


def render(model, targets, size: int = 128, steps: int = 128, lr: float = 0.05,
           fourier: bool = True, decorrelate: bool = True, transforms: bool = True,
           seed: int = 0, progress: bool = True):
    """Feature visualization by the recipe of Olah, Mordvintsev & Schubert (Distill 2017).

    ``targets``: one per image, a class index (its logit) or ``(layer, channel)`` (the
    channel's mean). With ``fourier`` the image is parameterized by its spectrum scaled by 1/f,
    with ``decorrelate`` in ImageNet's decorrelated colour space (both through a sigmoid), with
    ``transforms`` every step sees a randomly padded, jittered, scaled and rotated copy
    (:func:`random_transform`). All three off is the naive control: pixels ``0.5 + delta``
    clamped to [0, 1], no regularizer. Adam on the parameters. Returns ``(images (N, 3, size,
    size) in [0, 1], scores (steps, N))``.
    """
    size = validate.integer(size, "size", minimum=8, meaning="image side in pixels")
    steps = validate.integer(steps, "steps", meaning="optimization steps")
    targets = [t if isinstance(t, int) else (str(t[0]), int(t[1])) for t in targets]
    dev = _device(model)
    g = torch.Generator().manual_seed(seed)
    n = len(targets)
    if fourier:
        param = 0.01 * torch.randn(n, 3, size, size // 2 + 1, 2, generator=g)

        def image(p):
            return fourier_image(p, size, decorrelate)
    else:
        param = 0.1 * torch.randn(n, 3, size, size, generator=g)

        def image(p):
            if decorrelate:
                p = torch.einsum("nchw,dc->ndhw", p, COLOR_MATRIX.to(p.device))
            return (0.5 + p).clamp(0, 1)
    param = param.to(dev).requires_grad_(True)
    opt = torch.optim.Adam([param], lr=lr)
    history = []
    with no_inplace(model):
        for _ in runtime.progress(range(steps), desc="render", disable=not progress, leave=False):
            img = image(param)
            if transforms:
                img = random_transform(img, g)
            score = scores(model, img, targets)
            opt.zero_grad()
            (-score.sum()).backward()
            opt.step()
            history.append(score.detach().cpu())
    with torch.no_grad():
        return image(param).detach(), torch.stack(history)
