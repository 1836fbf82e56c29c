"""Autoencoders for 28x28 grey images (Fashion-MNIST), their trainer and checkpoint cache.

Introduced in notebook 05 (autoencoders); notebook 07 reuses the convolutional autoencoder
that notebook 05 trains (``cached_autoencoder()`` -> ``model.encode(x)``).

Every model maps ``x: (N, 1, 28, 28) float in [0, 1]`` through an encoder ``e`` to a code
``z = e(x): (N, k)`` and back through a decoder ``d`` whose last layer is a sigmoid, so
``d(z): (N, 1, 28, 28)`` lies in [0, 1] like the input. Shapes for ``ConvAutoencoder(k, w)``::

    x                          (N, 1, 28, 28)
    conv3x3 stride 2 -> ReLU   (N, w, 14, 14)
    conv3x3 stride 2 -> ReLU   (N, 2w, 7, 7)
    flatten -> linear          (N, k)            <- the bottleneck z
    linear -> ReLU -> reshape  (N, 2w, 7, 7)
    convT stride 2 -> ReLU     (N, w, 14, 14)
    convT stride 2 -> sigmoid  (N, 1, 28, 28)
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data, runtime
from .plumbing import artifacts, validate

IMAGE_SHAPE = (1, 28, 28)
KINDS = ("fc", "conv", "vae")


# --------------------------------------------------------------------------- input checks
def check_k(k) -> int:
    """The bottleneck size must be an integer >= 1."""
    return validate.integer(k, "k", meaning="bottleneck size")


def check_images(x, shape=IMAGE_SHAPE, name: str = "x") -> torch.Tensor:
    """``x`` checked as ``(N, *shape)`` float pixels in [0, 1] (:func:`helpers.plumbing.validate.images`)."""
    return validate.images(x, name, shape=shape)


# --------------------------------------------------------------------------- models
def _check_shape(x, shape) -> None:
    """The cheap part of :func:`check_images` (no device sync), run on every forward pass."""
    validate.images(x, "x", shape=shape, check_range=False)


class Autoencoder(nn.Module):
    """Base class: ``encode`` (N, 1, 28, 28) -> (N, k), ``decode`` (N, k) -> (N, 1, 28, 28).

    ``encode`` checks its input fully (type, shape, range); ``forward`` only checks the shape,
    so that training does not pay for a range check on every batch (the trainer checks the
    whole dataset once).
    """

    def encode(self, x):
        return self.encoder(check_images(x, self.image_shape))

    def decode(self, z):
        if z.ndim != 2 or z.shape[1] != self.k:
            raise ValueError(f"codes must have shape (N, {self.k}), got {tuple(z.shape)}")
        return self.decoder(z).view(-1, *self.image_shape)

    def forward(self, x):
        _check_shape(x, self.image_shape)
        return self.decode(self.encoder(x))


class FCAutoencoder(Autoencoder):
    """Fully connected: 784 -> hidden -> k -> hidden -> 784 (ReLU inside, sigmoid out)."""

    def __init__(self, k: int, hidden: int = 256, image_shape=IMAGE_SHAPE):
        super().__init__()
        self.k, self.image_shape = check_k(k), tuple(image_shape)
        self.config = dict(kind="fc", k=self.k, hidden=hidden, image_shape=list(image_shape))
        d = math.prod(image_shape)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(inplace=True),
                                     nn.Linear(hidden, self.k))
        self.decoder = nn.Sequential(nn.Linear(self.k, hidden), nn.ReLU(inplace=True),
                                     nn.Linear(hidden, d), nn.Sigmoid())


class ConvAutoencoder(Autoencoder):
    """Convolutional, width ``w`` (see the module docstring for every shape)."""

    def __init__(self, k: int, width: int = 32, image_shape=IMAGE_SHAPE):
        super().__init__()
        self.k, self.image_shape = check_k(k), tuple(image_shape)
        c, h, w_ = image_shape
        if h % 4 or w_ % 4:
            raise ValueError(f"ConvAutoencoder needs H and W divisible by 4, got {image_shape}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.config = dict(kind="conv", k=self.k, width=width, image_shape=list(image_shape))
        w, flat = width, 2 * width * (h // 4) * (w_ // 4)
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        self.encoder = nn.Sequential(
            nn.Conv2d(c, w, 3, stride=2, padding=1), relu(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), relu(),
            nn.Flatten(), nn.Linear(flat, self.k))
        self.decoder = nn.Sequential(
            nn.Linear(self.k, flat), relu(), nn.Unflatten(1, (2 * w, h // 4, w_ // 4)),
            nn.ConvTranspose2d(2 * w, w, 3, stride=2, padding=1, output_padding=1), relu(),
            nn.ConvTranspose2d(w, c, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())


def _check_stats(mu, logvar) -> None:
    """``mu`` and ``logvar``: two ``(N, k)`` tensors of the same shape (what a VAE encodes)."""
    for name, t in (("mu", mu), ("logvar", logvar)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"expected {name}: an (N, k) tensor, got {type(t).__name__}")
    if mu.ndim != 2 or logvar.shape != mu.shape:
        raise ValueError(f"expected mu and logvar: two (N, k) tensors of the same shape, got "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")


def reparameterize(mu, logvar):
    """z = mu + sigma * eps with eps ~ N(0, I): the sample is differentiable in mu and sigma."""
    _check_stats(mu, logvar)
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_to_standard_normal(mu, logvar):
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) per sample: (N, k) -> (N,), always >= 0."""
    _check_stats(mu, logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


class VAE(Autoencoder):
    """Variational autoencoder (Kingma & Welling 2014) with fully connected layers.

    ``forward(x)`` returns ``(reconstruction, mu, logvar)``; in training mode the decoder sees
    a sample ``z = mu + sigma * eps``, in eval mode the mean ``mu``. ``encode`` gives ``mu``.
    """

    def __init__(self, k: int, hidden: int = 256, image_shape=IMAGE_SHAPE):
        super().__init__()
        self.k, self.image_shape = check_k(k), tuple(image_shape)
        self.config = dict(kind="vae", k=self.k, hidden=hidden, image_shape=list(image_shape))
        d = math.prod(image_shape)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(inplace=True))
        self.mu, self.logvar = nn.Linear(hidden, self.k), nn.Linear(hidden, self.k)
        self.decoder = nn.Sequential(nn.Linear(self.k, hidden), nn.ReLU(inplace=True),
                                     nn.Linear(hidden, d), nn.Sigmoid())

    def encode_stats(self, x, check: bool = True):
        """``mu, logvar``: (N, k) each (log-variance clamped to [-10, 10] for stability)."""
        h = self.body(check_images(x, self.image_shape) if check else x)
        return self.mu(h), self.logvar(h).clamp(-10, 10)

    def encode(self, x):
        return self.encode_stats(x)[0]

    def forward(self, x):
        _check_shape(x, self.image_shape)
        mu, logvar = self.encode_stats(x, check=False)
        z = reparameterize(mu, logvar) if self.training else mu
        return self.decode(z), mu, logvar


def build(config: dict) -> Autoencoder:
    """Rebuild a model from its ``config`` (as stored in a checkpoint)."""
    config = dict(config)
    kind = config.pop("kind", None)
    classes = {"fc": FCAutoencoder, "conv": ConvAutoencoder, "vae": VAE}
    if kind not in classes:
        raise ValueError(f"unknown autoencoder kind {kind!r}: expected one of {', '.join(KINDS)}")
    if "image_shape" in config:
        config["image_shape"] = tuple(config["image_shape"])
    return classes[kind](**config)


# --------------------------------------------------------------------------- training
def mse_loss(model, x_in, x_target):
    """Default loss: mean squared error per pixel between ``model(x_in)`` and ``x_target``.

    For a :class:`VAE` this is only the reconstruction part; notebook 05 writes the ELBO loss.
    """
    out = _output(model(x_in))
    if not isinstance(x_target, torch.Tensor) or x_target.shape != out.shape:
        got = tuple(x_target.shape) if isinstance(x_target, torch.Tensor) else type(x_target).__name__
        raise ValueError(f"expected x_target: images of the reconstruction's shape "
                         f"{tuple(out.shape)}, got {got}")
    return F.mse_loss(out, x_target)


def fit_autoencoder(model: nn.Module, x, epochs: int = 10, batch_size: int = 128,
                    lr: float = 2e-3, loss_fn=None, corrupt=None, x_val=None,
                    desc: str = "autoencoder", device=None, seed: int = 0) -> dict:
    """Train ``model`` in place with Adam and a cosine learning-rate decay.

    x, x_val: ``(N, 1, 28, 28) float in [0, 1]``. ``corrupt(xb) -> xb_in`` makes the input
    (denoising, inpainting); the target is always the clean ``xb``. ``loss_fn(model, x_in,
    x_target)`` returns a scalar or ``(scalar, {name: scalar})`` (defaults to :func:`mse_loss`).
    Mixed precision (float16 autocast) is used on CUDA. A non-finite epoch loss raises
    ``runtime.TrainingError`` (the weights are those of the failing step). Returns the history:
    ``{"loss": [...per epoch], "val_mse": [...], "seconds": total, <parts>: [...]}``.
    """
    device = torch.device(device) if device is not None else runtime.current().device
    x = check_images(x, model.image_shape).to(device)
    if x_val is not None:
        x_val = check_images(x_val, model.image_shape, "x_val").to(device)
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    loss_fn = loss_fn or mse_loss
    model.to(device).train()
    gen = torch.Generator().manual_seed(seed)
    steps = math.ceil(len(x) / batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    hist: dict = {"loss": [], "val_mse": []}
    t0 = time.perf_counter()
    bar = runtime.progress(total=epochs * steps, desc=desc, unit="batch", leave=False)
    for _ in range(epochs):
        model.train()
        total, parts_sum = torch.zeros((), device=device), {}
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            xb = x[idx.to(device)]
            xin = corrupt(xb) if corrupt is not None else xb
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                out = loss_fn(model, xin, xb)
            loss, parts = out if isinstance(out, tuple) else (out, {})
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            total += loss.detach().float() * len(idx)      # stays on the device: no sync per step
            for name, v in parts.items():
                parts_sum[name] = parts_sum.get(name, 0.0) + torch.as_tensor(v).detach().float() * len(idx)
            bar.update(1)
        epoch_loss = float(total) / len(x)
        if not math.isfinite(epoch_loss):
            bar.close()
            raise runtime.TrainingError(f"the loss became {epoch_loss}: lower the learning rate "
                                     f"(now {lr}) or check the loss function")
        hist["loss"].append(epoch_loss)
        for name, v in parts_sum.items():
            hist.setdefault(name, []).append(float(v) / len(x))
        if x_val is not None:
            hist["val_mse"].append(reconstruction_mse(model, x_val))
        bar.set_postfix(loss=f"{epoch_loss:.4f}", **({"val_mse": f"{hist['val_mse'][-1]:.4f}"}
                                                     if x_val is not None else {}))
    bar.close()
    hist["seconds"] = time.perf_counter() - t0
    return hist


# --------------------------------------------------------------------------- evaluation
def _output(out):
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def _batched(model: nn.Module, fn, inputs, batch_size: int) -> torch.Tensor:
    """Apply ``fn`` to batches of ``inputs`` on the model's device in eval mode; CPU result."""
    device = next(model.parameters()).device
    with runtime.eval_mode(model):
        return torch.cat([_output(fn(b.to(device))).float().cpu() for b in inputs.split(batch_size)])


def reconstruct(model: nn.Module, x, batch_size: int = 1000, corrupt=None) -> torch.Tensor:
    """``model(x)`` (or ``model(corrupt(x))``) batched: (N, 1, 28, 28) -> (N, 1, 28, 28), CPU."""
    check_images(x, model.image_shape)
    return _batched(model, lambda b: model(corrupt(b) if corrupt else b), x, batch_size)


def reconstruction_mse(model: nn.Module, x, batch_size: int = 1000, per_image: bool = False):
    """Mean squared error per pixel of reconstructing ``x`` (float; ``(N,)`` if per_image)."""
    err = (reconstruct(model, x, batch_size) - x.float().cpu()).pow(2).flatten(1).mean(1)
    return err if per_image else float(err.mean())


def encode_all(model: nn.Module, x, batch_size: int = 1000) -> torch.Tensor:
    """Codes ``e(x)``: (N, 1, 28, 28) -> (N, k) float on the CPU (eval mode, batched)."""
    check_images(x, model.image_shape)
    return _batched(model, model.encode, x, batch_size)


def decode_all(model: nn.Module, z, batch_size: int = 1000) -> torch.Tensor:
    """Images ``d(z)``: (N, k) -> (N, 1, 28, 28) in [0, 1] on the CPU (eval mode, batched)."""
    return _batched(model, lambda b: model.decode(b.float()), torch.as_tensor(z), batch_size)


# --------------------------------------------------------------------------- checkpoints
def checkpoint_path(kind: str = "conv", k: int = 32, profile: str | None = None) -> Path:
    """``<data dir>/checkpoints/fashion_<kind>_ae_k<k>_<profile>.pt``."""
    if kind not in KINDS:
        raise ValueError(f"unknown autoencoder kind {kind!r}: expected one of {', '.join(KINDS)}")
    if profile is not None:
        validate.choice(profile, runtime.PROFILES, "profile")
    k = check_k(k)
    return artifacts.checkpoint_dir() / f"fashion_{kind}_ae_k{k}_{profile or runtime.get_profile()}.pt"


def fashion_record(source: str, n_train: int) -> dict:
    """What a saved autoencoder records and what a reuse must match: the Fashion-MNIST source
    it was trained on (``torchvision`` / ``synthetic``) and how many training images."""
    n_train = validate.integer(n_train, "n_train", minimum=1, meaning="training images")
    return {"dataset": "fashion_mnist", "source": source, "n_train": n_train}


def save_autoencoder(model: Autoencoder, path=None, made_from: dict | None = None, **extra) -> Path:
    """Store weights + config atomically (default path from :func:`checkpoint_path`).

    ``made_from`` (see :func:`fashion_record`) says what it was trained on; ``extra`` (numbers,
    strings, lists, dicts) is stored too, e.g. ``test_mse``. Notebook 05 saves its conv
    autoencoder at k = 32 here for notebook 07.
    """
    if not isinstance(model, Autoencoder) or "kind" not in getattr(model, "config", {}):
        raise TypeError(f"expected an autoencoder from helpers.autoencoders, got {type(model).__name__}")
    path = path or checkpoint_path(model.config["kind"], model.config["k"])
    return artifacts.save_model(path, model, made_from=made_from, **extra)


def load_autoencoder(path) -> tuple[Autoencoder, dict]:
    """Read a checkpoint (``weights_only=True``), rebuild the model from its config."""
    payload = artifacts.read(path, what="autoencoder")
    if payload is None:
        raise ValueError(f"no usable autoencoder checkpoint at {path} (see the line above, if "
                         f"any): run notebook 05 to write it again")
    model = build(payload["config"])
    model.load_state_dict(payload["state"])
    return model.eval(), {key: v for key, v in payload.items() if key != "state"}


def cached_autoencoder(profile: str | None = None, kind: str = "conv", k: int = 32,
                       source: str | None = None):
    """The autoencoder notebook 05 trained for ``profile`` (eval mode, CPU), or ``None``: not
    trained yet, unreadable, or trained on other data than the Fashion-MNIST ``source`` present
    now (default: what :func:`helpers.data.fashion_mnist` finds); one line then says which.

    ``model.encode(x)``: ``(N, 1, 28, 28) float in [0, 1]`` -> ``(N, k)``; the checkpoint's
    extra fields (``made_from``, test MSE, ...) are in ``model.checkpoint_info``.
    """
    path = checkpoint_path(kind, k, profile)
    if not path.exists():
        return None
    source = source or data.fashion_mnist("test", n=1, verbose=False).source
    payload = artifacts.load(path, {"dataset": "fashion_mnist", "source": source},
                             what="autoencoder", action="not reused")
    if payload is None:
        return None
    model = build(payload["config"])
    model.load_state_dict(payload["state"])
    model.eval().checkpoint_info = {key: v for key, v in payload.items() if key != "state"}
    return model
