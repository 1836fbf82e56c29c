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
import textwrap
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


def reconstruct(model: nn.Module, x, batch_size: int = 1000, corrupt=None,
                check_range: bool = True) -> torch.Tensor:
    """``model(x)`` (or ``model(corrupt(x))``) batched: (N, 1, 28, 28) -> (N, 1, 28, 28), CPU.

    ``check_range=False`` accepts inputs outside [0, 1] (images with additive noise)."""
    validate.images(x, "x", shape=model.image_shape, check_range=check_range)
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


# --------------------------------------------------------------------------- training reused on a rerun
def recipe_record(model: nn.Module, x, **fit_kwargs) -> dict:
    """What a trained model is made from besides the data's name: its config, its initial
    weights, the training images (a digest) and the training settings (functions such as
    ``corrupt`` by their names, tensors such as labels by a digest)."""
    rec = {"config": dict(getattr(model, "config", {})),
           "init": artifacts.digest(*[p.detach() for p in model.state_dict().values()]),
           "x": artifacts.digest(x, sample=512)}
    for key, value in sorted(fit_kwargs.items()):
        if key in ("desc", "device", "x_val"):
            continue
        if isinstance(value, torch.Tensor):
            value = artifacts.digest(value)
        rec[key] = getattr(value, "__name__", value) if callable(value) else value
    return rec


def fit_or_reuse(model: nn.Module, x, path, made_from: dict, trainer=None, verbose: bool = True,
                 **fit_kwargs) -> dict:
    """``trainer(model, x, **fit_kwargs)`` (default :func:`fit_autoencoder`) unless ``path``
    holds weights trained from the same data, initial weights and settings; then those
    weights are loaded instead of training again.

    ``made_from`` names the data (e.g. :func:`fashion_record`); :func:`recipe_record` adds the
    rest. Returns the training history (as saved) with ``"reused": True/False``; one line says
    that it was reused (``verbose=False``: silent, the caller reports). The model is left on the CPU in eval mode either way.
    """
    path = Path(path)
    trainer = trainer or fit_autoencoder
    expected = {**made_from, "trainer": trainer.__name__, **recipe_record(model, x, **fit_kwargs)}
    payload = artifacts.load(path, expected, what=path.stem, action="training it again")
    if payload is not None:
        model.load_state_dict(payload["state"])
        hist = dict(payload["history"], reused=True)
        if verbose:
            print(f"[{fit_kwargs.get('desc', path.stem)}] reused {path.name}: trained earlier in "
                  f"{hist['seconds']:.0f} s from the same data, weights and settings (delete it to retrain)")
    else:
        hist = dict(trainer(model, x, **fit_kwargs), reused=False)
        artifacts.save_model(path, model, made_from=expected,
                             history={k: v for k, v in hist.items() if k != "reused"})
    model.cpu().eval()
    return hist


def run_path(name: str, profile: str | None = None) -> Path:
    """``<data dir>/checkpoints/nb05_<name>_<profile>.pt``: the other models notebook 05 trains."""
    if profile is not None:
        validate.choice(profile, runtime.PROFILES, "profile")
    return artifacts.checkpoint_dir() / f"nb05_{name}_{profile or runtime.get_profile()}.pt"


# --------------------------------------------------------------------------- judging generated images
class FashionClassifier(nn.Module):
    """A small CNN that labels Fashion-MNIST images: the judge of generated samples (notebook 05).

    (N, 1, 28, 28) in [0, 1] -> conv5x5(16) ReLU maxpool -> conv5x5(32) ReLU maxpool
    -> (N, 32 * 7 * 7) -> linear -> (N, 10) logits.
    """

    def __init__(self):
        super().__init__()
        self.image_shape = IMAGE_SHAPE
        self.config = dict(kind="classifier")
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 10))

    def forward(self, x):
        _check_shape(x, self.image_shape)
        return self.net(x)


def fit_classifier(model: nn.Module, x, y=None, epochs: int = 2, batch_size: int = 128,
                   lr: float = 2e-3, desc: str = "classifier", device=None, seed: int = 0) -> dict:
    """Train ``model`` on images ``x (N, 1, 28, 28)`` and labels ``y (N,)`` (Adam, cross-entropy,
    a new order every epoch). Returns ``{"loss": [...per epoch], "seconds": total}``."""
    epochs = validate.integer(epochs, "epochs", meaning="passes over the data")
    device = torch.device(device) if device is not None else runtime.current().device
    x = check_images(x, model.image_shape).to(device)
    y = torch.as_tensor(y).long().to(device)
    if y.shape != (len(x),):
        raise ValueError(f"expected y: ({len(x)},) labels, one per image, got {tuple(y.shape)}")
    model.to(device).train()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist, t0 = {"loss": []}, time.perf_counter()
    bar = runtime.progress(total=epochs * math.ceil(len(x) / batch_size), desc=desc, unit="batch", leave=False)
    for _ in range(epochs):
        total = torch.zeros((), device=device)
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            idx = idx.to(device)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
            bar.update(1)
        hist["loss"].append(float(total) / len(x))
    bar.close()
    hist["seconds"] = time.perf_counter() - t0
    return hist


@torch.no_grad()
def class_probabilities(classifier: nn.Module, images, batch_size: int = 1000) -> torch.Tensor:
    """Softmax outputs ``(N, 10)`` of ``classifier`` on images ``(N, 1, 28, 28)`` (CPU)."""
    batch_size = validate.integer(batch_size, "batch_size", meaning="images per batch")
    return _batched(classifier, lambda b: classifier(b).softmax(1), torch.as_tensor(images), batch_size)


@torch.no_grad()
def judge_features(classifier: nn.Module, images, batch_size: int = 1000) -> torch.Tensor:
    """The classifier's penultimate features ``(N, D)`` (everything before its last linear layer),
    float64: the space in which :func:`frechet_distance` and :func:`knn_precision_recall` compare
    image sets (the Inception network's role in FID, played by the Fashion-MNIST judge)."""
    batch_size = validate.integer(batch_size, "batch_size", meaning="images per batch")
    body = classifier.net[:-1]
    return _batched(classifier, lambda b: body(b), torch.as_tensor(images), batch_size).double()


class FeatureReference:
    """A reference feature set ``(N, D)`` whose statistics are computed ONCE and reused for every
    generator scored against it: its mean, covariance and covariance square root (Frechet
    distance) and, per k, each point's distance to its k-th nearest reference neighbour (the
    ball radii of precision, density and coverage). ``frechet(fake)``, ``precision_recall(fake, k)``,
    ``density_coverage(fake, k)`` and ``covered(fake, k)`` equal :func:`frechet_distance`,
    :func:`knn_precision_recall`, :func:`density_coverage` and :func:`covered_real` with this set
    as the real one."""

    def __init__(self, real):
        real = torch.as_tensor(real, dtype=torch.float64)
        if real.ndim != 2 or len(real) < 2:
            raise ValueError(f"expected an (N, D) reference feature set with N >= 2, got {tuple(real.shape)}")
        self.real = real
        self._mean = self._cov = self._root = None
        self._radii, self._dists = {}, {}

    def _gaussian(self):
        if self._root is None:
            self._mean, self._cov = self.real.mean(0), torch.cov(self.real.T).reshape(self.real.shape[1], -1)
            ev, U = torch.linalg.eigh(self._cov)
            self._root = (U * ev.clamp_min(0).sqrt()) @ U.T
        return self._mean, self._cov, self._root

    def radius(self, k: int) -> torch.Tensor:
        """(N,) each reference point's distance to its k-th nearest other reference point."""
        k = validate.integer(k, "k", minimum=1, meaning="nearest neighbours")
        if len(self.real) <= k:
            raise ValueError(f"need more than k = {k} real points, got {len(self.real)}")
        if k not in self._radii:
            if "self" not in self._dists:
                self._dists["self"] = torch.cdist(self.real, self.real)
            self._radii[k] = self._dists["self"].kthvalue(k + 1, dim=1).values    # the point itself is 0
        return self._radii[k]

    def _fake(self, fake):
        fake = torch.as_tensor(fake, dtype=torch.float64)
        if fake.ndim != 2 or fake.shape[1] != self.real.shape[1] or len(fake) == 0:
            raise ValueError(f"expected (M, {self.real.shape[1]}) sample features with M >= 1, got {tuple(fake.shape)}")
        return fake

    def frechet(self, fake) -> float:
        fake = self._fake(fake)
        if len(fake) < 2:
            raise ValueError(f"expected two (N, D) feature sets with the same D and N >= 2, got "
                             f"{tuple(self.real.shape)} and {tuple(fake.shape)}")
        mu, sa, root_a = self._gaussian()
        sb = torch.cov(fake.T).reshape(fake.shape[1], -1)
        cross = torch.linalg.eigvalsh(root_a @ sb @ root_a).clamp_min(0).sqrt().sum()
        return float(((mu - fake.mean(0)) ** 2).sum() + sa.trace() + sb.trace() - 2 * cross)

    def inside(self, fake, k: int) -> torch.Tensor:
        """(M, N) bool: sample m lies inside reference point n's k-NN ball."""
        radius = self.radius(k)
        return torch.cdist(self._fake(fake), self.real) <= radius[None]

    def precision_recall(self, fake, k: int = 3) -> tuple[float, float]:
        fake = self._fake(fake)
        k = validate.integer(k, "k", minimum=1, meaning="nearest neighbours")
        if min(len(self.real), len(fake)) <= k:
            raise ValueError(f"need more than k = {k} points in each set, got {len(self.real)} and {len(fake)}")
        d = torch.cdist(fake, self.real)                                     # (M, N)
        precision = float((d <= self.radius(k)[None]).any(1).double().mean())
        fake_radius = torch.cdist(fake, fake).kthvalue(k + 1, dim=1).values  # (M,) the samples' own balls
        recall = float((d.T <= fake_radius[None]).any(1).double().mean())
        return precision, recall

    def density_coverage(self, fake, k: int = 5) -> tuple[float, float]:
        inside = self.inside(fake, k)
        return float(inside.double().sum(1).mean() / k), float(inside.any(0).double().mean())

    def covered(self, fake, k: int = 5) -> torch.Tensor:
        return self.inside(fake, k).any(0)


def frechet_distance(a, b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(N, D)``, ``(M, D)``
    (Heusel et al., 2017: FID when the features are Inception's):
    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)``. 0 for equal sets;
    it grows when the means move apart and when one set is less varied (blur) than the other.
    Scoring several sets against one reference: :class:`FeatureReference` (its statistics once)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"expected two (N, D) feature sets with the same D and N >= 2, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    return FeatureReference(a).frechet(b)


def knn_precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Nearest-neighbour precision and recall of Kynkaanniemi et al. (2019), features ``(N, D)``.

    Each set covers the union of balls around its points, each ball reaching that point's k-th
    nearest neighbour in the same set. **Precision**: the share of ``fake`` inside the real set's
    balls (are the samples like real images?). **Recall**: the share of ``real`` inside the fake
    set's balls (do the samples cover the variety of real images?). A set of blurred copies can
    score a high precision, but its recall collapses; noise scores low on both.
    """
    k = validate.integer(k, "k", minimum=1, meaning="nearest neighbours")
    real, fake = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"need more than k = {k} points in each set, got {len(real)} and {len(fake)}")
    return FeatureReference(real).precision_recall(fake, k)


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
    """Density and coverage of Naeem et al. (2020), features ``(N, D)``: both use balls around the
    REAL points only (radius: the distance to the k-th nearest real neighbour), so a few scattered
    samples cannot inflate them as they inflate recall (whose balls sit around the samples).

    **Density**: the mean over samples of how many real balls contain them, divided by k (about 1
    for samples distributed like the real set; above 1 where samples crowd dense regions).
    **Coverage**: the share of real points whose ball contains at least one sample (0 to 1).
    """
    k = validate.integer(k, "k", minimum=1, meaning="nearest neighbours")
    real, fake = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)
    if len(real) <= k or len(fake) == 0:
        raise ValueError(f"need more than k = {k} real points and one sample, got {len(real)} and {len(fake)}")
    return FeatureReference(real).density_coverage(fake, k)


def covered_real(real, fake, k: int = 5) -> torch.Tensor:
    """Per real point, whether its ball (radius: the distance to its k-th nearest real neighbour)
    holds at least one sample: ``(N_real,)`` bool. Its mean is the coverage of
    :func:`density_coverage`; kept per point so that two generators scored against the same real
    points can be compared pairwise, with a standard error (:func:`paired_verdict`)."""
    k = validate.integer(k, "k", minimum=1, meaning="nearest neighbours")
    real, fake = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)
    if len(real) <= k or len(fake) == 0:
        raise ValueError(f"need more than k = {k} real points and one sample, got {len(real)} and {len(fake)}")
    return FeatureReference(real).covered(fake, k)


def paired_verdict(control, method, lower_is_better: bool = True, names=("PCA", "AE")) -> dict:
    """Who wins between a control and a method scored on the SAME units (images, draws, real points).

    ``control``, ``method``: ``(n,)`` scores per unit. The paired difference ``method - control``
    has mean ``diff`` and standard error ``se = std(ddof=1) / sqrt(n)``. A difference within
    ``t * se`` is called a ``"tie"``, where ``t`` is Student's 97.5% quantile with ``n - 1``
    degrees of freedom (a two-sided 95% interval around zero: 2.78 for 5 draws, about 1.96 for
    thousands of images); otherwise the winner is the name (from ``names``) of the better mean.
    Returns ``{"control", "method", "diff", "se", "t", "winner"}`` (means as floats).
    """
    a = torch.as_tensor(control, dtype=torch.float64).flatten()
    b = torch.as_tensor(method, dtype=torch.float64).flatten()
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"need two score arrays over the same units (at least 2), got {tuple(a.shape)} and {tuple(b.shape)}")
    if len(names) != 2:
        raise ValueError(f"names: (control, method), got {names!r}")
    from scipy.stats import t as student_t
    d = b - a
    diff, se = float(d.mean()), float(d.std(unbiased=True) / math.sqrt(len(d)))
    t = float(student_t.ppf(0.975, len(d) - 1))
    if abs(diff) <= t * se:
        winner = "tie"
    else:
        method_better = diff < 0 if lower_is_better else diff > 0
        winner = names[1] if method_better else names[0]
    return {"control": float(a.mean()), "method": float(b.mean()), "diff": diff, "se": se, "t": t, "winner": winner}


def sample_scores(probs) -> dict:
    """How a classifier sees a set of images, from its probabilities ``(N, C)``:

    - ``confidence``: the mean of the top probability. A blurred or noisy image that looks like
      no class gets a low one, so (unlike the distance to the nearest training image) it does
      not reward blur.
    - ``classes``: ``exp(entropy)`` of the histogram of predicted labels, the effective number of
      classes the set covers (C when every class is predicted equally often, 1 for a single class).
    - ``inception``: ``exp(mean_x KL(p(y|x) || p(y)))``, the formula of the Inception score of
      Salimans et al. (2016) with this classifier in Inception's place (a "classifier score"): high only if each image is confident AND the set is diverse.
    """
    probs = torch.as_tensor(probs, dtype=torch.float64)
    if probs.ndim != 2 or probs.shape[0] < 1:
        raise ValueError(f"expected probs: an (N, C) matrix of class probabilities, got {tuple(probs.shape)}")
    counts = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).double()
    freq = counts / counts.sum()
    entropy = -(freq[freq > 0] * freq[freq > 0].log()).sum()
    p = probs.clamp_min(1e-12)
    marginal = p.mean(0, keepdim=True)
    kl = (p * (p.log() - marginal.log())).sum(1)
    return {"confidence": float(probs.max(1).values.mean()), "classes": float(entropy.exp()),
            "inception": float(kl.mean().exp())}


def active_dimensions(mu, threshold: float = 0.01) -> torch.Tensor:
    """Which code dimensions a VAE uses: ``Var_x(mu_j(x)) > threshold`` over the images whose
    posterior means are ``mu (N, k)`` (Burda, Grosse & Salakhutdinov 2016). A dimension whose mean
    does not move with x carries no information about x: its posterior has collapsed to the prior."""
    threshold = validate.number(threshold, "threshold", minimum=0, meaning="KL in nats below which a dimension is inactive")
    mu = torch.as_tensor(mu)
    if mu.ndim != 2 or len(mu) < 2:
        raise ValueError(f"expected mu: (N, k) posterior means of N >= 2 images, got {tuple(mu.shape)}")
    return mu.double().var(0) > threshold


def bernoulli_floor(x) -> torch.Tensor:
    """Per image ``(N,)``: ``sum_j H(x_j)``, the smallest binary cross-entropy any reconstruction
    can reach on grey levels ``x (N, 1, 28, 28)`` (nats): it is zero only for black-and-white images,
    so a Bernoulli ELBO on grey levels is not the log-likelihood of a normalised density."""
    x = check_images(x).double().flatten(1)
    ent = -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x))
    return ent.sum(1).float()


# --------------------------------------------------------------------------- compression baselines
def jpeg_roundtrip(images, quality: int):
    """Each image ``(N, 1, 28, 28)`` in [0, 1] saved as an 8-bit greyscale JPEG at ``quality``
    (Pillow, standard tables) and decoded. Returns ``(decoded (N, 1, 28, 28), payload (N,) bytes,
    file (N,) bytes)``; ``payload`` counts only the entropy-coded data after the header (the
    header, with its tables, is the same for every image at one quality, like a decoder shipped once)."""
    quality = validate.integer(quality, "quality", minimum=1, maximum=95, meaning="JPEG quality")
    import io

    import numpy as np
    from PIL import Image

    x = check_images(images)
    arrays = (x[:, 0].cpu().numpy() * 255).round().astype(np.uint8)
    out, payload, files = [], [], []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a, mode="L").save(buf, format="JPEG", quality=int(quality))
        raw = buf.getvalue()
        sos = raw.find(b"\xff\xda")                      # start of scan: the header ends after it
        header = sos + 2 + int.from_bytes(raw[sos + 2:sos + 4], "big")
        payload.append(len(raw) - header - 2)            # minus the 2-byte end-of-image marker
        files.append(len(raw))
        out.append(np.asarray(Image.open(io.BytesIO(raw)), dtype=np.float32) / 255)
    return (torch.from_numpy(np.stack(out))[:, None], torch.tensor(payload), torch.tensor(files))


def quantize_codes(z, lo, hi, bits: int = 8):
    """Codes ``z (N, k)`` rounded to ``2**bits`` levels between ``lo`` and ``hi`` (``(k,)`` each,
    e.g. the training codes' range) and back: what a decoder receives from ``k * bits / 8`` bytes."""
    bits = validate.integer(bits, "bits", minimum=1, maximum=16, meaning="bits per code number")
    if not bool(torch.all(torch.as_tensor(lo) < torch.as_tensor(hi))):
        raise ValueError("expected lo < hi (every dimension): the range the codes are rounded into")
    z, lo, hi = (torch.as_tensor(t, dtype=torch.float32) for t in (z, lo, hi))
    levels = 2 ** int(bits) - 1
    step = (hi - lo).clamp_min(1e-12) / levels
    return ((z.clamp(lo, hi) - lo) / step).round() * step + lo


# --------------------------------------------------------------------------- figures
def show_rows(rows: dict, suptitle: str | None = None, col_titles=None, size: float = 1.1):
    """Image rows with one label each on the left (no title repeated on every tile).

    ``rows``: ``{label: (n, 1, 28, 28) images}``, every row of the same length ``n``. Returns the figure.
    """
    import matplotlib.pyplot as plt

    rows = {str(k): torch.as_tensor(v).detach().float().cpu() for k, v in rows.items()}
    n = {len(v) for v in rows.values()}
    if len(n) != 1:
        raise ValueError(f"expected rows: image batches of one length, got lengths {sorted(n)}")
    n = n.pop()
    fig, axes = plt.subplots(len(rows), n, figsize=(1.9 + size * n, size * len(rows) + (0.5 if suptitle else 0)
                                                    + (0.3 if col_titles else 0)), squeeze=False)
    for r, (label, imgs) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(imgs[c].clamp(0, 1).squeeze(0).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(textwrap.fill(label, 16), rotation=0, ha="right", va="center", fontsize=12)
            if r == 0 and col_titles is not None:
                ax.set_title(str(col_titles[c]), fontsize=12)
    if suptitle:
        fig.suptitle(suptitle, fontsize=13)
    fig.tight_layout()
    return fig
