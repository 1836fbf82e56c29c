"""The small CIFAR-10 CNN shared by notebooks 02, 03, 04 and 07, and its checkpoint cache.

Introduced in notebook 02. The network takes pixels in [0, 1] and normalizes inside, like
the ImageNet models of :mod:`helpers.pretrained`, so attacks and saliency work in pixel space.

Shape walk-through for ``cifar_net(width=w)`` on ``x: (N, 3, 32, 32)``::

    normalize                     (N, 3, 32, 32)
    stem   conv3x3 -> BN -> ReLU  (N, w, 32, 32)
    block1 conv -> pool -> BN -> ReLU (+ residual)  (N, 2w, 16, 16)
    block2 conv -> pool -> BN -> ReLU               (N, 4w, 8, 8)
    block3 conv -> pool -> BN -> ReLU (+ residual)  (N, 8w, 4, 4)
    head   global max pool -> dropout -> linear     (N, 10)

This follows the ResNet-9 layout of David Page's fast CIFAR-10 training ("How to train your
ResNet", 2018), which reaches 94% in a few minutes at ``w = 64``. :data:`RECIPES` holds
notebook 02's training settings per profile.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from . import data, runtime
from .plumbing import artifacts, validate
from .plumbing.artifacts import checkpoint_dir, save_model as save_checkpoint  # noqa: F401 (part of this API)

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def conv_bn(c_in: int, c_out: int, pool: bool = False, batchnorm: bool = True) -> nn.Sequential:
    """conv3x3 (padding 1 keeps the size) [-> maxpool 2x2] [-> BatchNorm] -> ReLU."""
    c_in = validate.integer(c_in, "c_in", meaning="input channels")
    c_out = validate.integer(c_out, "c_out", meaning="output channels")
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """``x + f(x)`` with f two conv_bn layers (same channels, same size)."""

    def __init__(self, channels: int, batchnorm: bool = True):
        super().__init__()
        self.f = nn.Sequential(conv_bn(channels, channels, batchnorm=batchnorm),
                               conv_bn(channels, channels, batchnorm=batchnorm))

    def forward(self, x):
        return x + self.f(x)


class CifarNet(nn.Module):
    """ResNet-9-style CIFAR classifier; ``config`` rebuilds it (stored in checkpoints)."""

    def __init__(self, width: int = 64, residual: bool = True, batchnorm: bool = True,
                 dropout: float = 0.0, num_classes: int = 10, in_channels: int = 3,
                 mean=CIFAR_MEAN, std=CIFAR_STD, head_scale: float = 1.0):
        super().__init__()
        if width < 1 or num_classes < 2:
            raise ValueError(f"width must be >= 1 and num_classes >= 2, got {width}, {num_classes}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.config = dict(width=width, residual=residual, batchnorm=batchnorm, dropout=dropout,
                           num_classes=num_classes, in_channels=in_channels,
                           mean=tuple(mean), std=tuple(std), head_scale=float(head_scale))
        self.head_scale = float(head_scale)   # Page's ResNet-9 multiplies the logits by 0.125
        from .pretrained import Normalize

        w = width
        self.normalize = Normalize(mean, std)
        self.stem = conv_bn(in_channels, w, batchnorm=batchnorm)
        self.block1 = nn.Sequential(conv_bn(w, 2 * w, pool=True, batchnorm=batchnorm),
                                    *([Residual(2 * w, batchnorm)] if residual else []))
        self.block2 = conv_bn(2 * w, 4 * w, pool=True, batchnorm=batchnorm)
        self.block3 = nn.Sequential(conv_bn(4 * w, 8 * w, pool=True, batchnorm=batchnorm),
                                    *([Residual(8 * w, batchnorm)] if residual else []))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(8 * w, num_classes)

    def features(self, x):
        """Penultimate features ``(N, 8w)`` (used for embeddings and neural collapse)."""
        x = self.block3(self.block2(self.block1(self.stem(self.normalize(x)))))
        return self.pool(x).flatten(1)

    def forward(self, x):
        out = self.fc(self.dropout(self.features(x)))
        return out * self.head_scale if self.head_scale != 1.0 else out

    @property
    def first_conv(self) -> nn.Conv2d:
        return self.stem[0]


def cifar_net(**config) -> CifarNet:
    """Build a :class:`CifarNet` (see the module docstring for its shapes)."""
    return CifarNet(**config)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected model: an nn.Module, got {type(model).__name__}"
                        + (" (a state_dict? pass the model itself)" if isinstance(model, dict) else ""))
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


#: Notebook 02's default training recipe per profile. ``gpu`` follows the ResNet-9 schedule of
#: David Page ("How to train your ResNet", 2018: width 64, batch 512, SGD + Nesterov, peak lr
#: 0.4 reached by linear warm-up, then linear decay to 0, weight decay 5e-4, flip + crop, label
#: smoothing 0.2, logits scaled by 0.125, flip test-time augmentation), shortened from 24 to
#: 12 epochs (his later posts reach 94% in 10 with further tricks);
#: ``cpu`` is the same network at width 16 (1/16 of the compute) on 20,000 images for 4 epochs
#: (about 3 minutes on a 4-core laptop);
#: ``smoke`` is width 8 on 2,500 images for 6 epochs, for the test suite (about 45% on real
#: CIFAR-10 images in 6 s on 2 CPU cores). Both keep Page's logit scale of 1/8 and a peak lr
#: of 0.4: without the scale the max-pool head's large logits make these short runs unstable
#: (measured on real images in smoke: 26% at scale 1 and lr 0.1, 46% at scale 1/8 and lr 0.4).
RECIPES = {
    "gpu": dict(width=64, n_train=47_500, epochs=12, batch_size=512, lr=0.4, optimizer="sgd",
                weight_decay=5e-4, label_smoothing=0.2, dropout=0.0, warmup=0.2, tta=True,
                head_scale=0.125),
    "cpu": dict(width=16, n_train=20_000, epochs=4, batch_size=128, lr=0.4, optimizer="sgd",
                weight_decay=5e-4, label_smoothing=0.1, dropout=0.1, warmup=0.2, tta=True,
                head_scale=0.125),
    "smoke": dict(width=8, n_train=2_500, epochs=6, batch_size=64, lr=0.4, optimizer="sgd",
                  weight_decay=5e-4, label_smoothing=0.0, dropout=0.1, warmup=0.2, tta=False,
                  head_scale=0.125),
}


def recipe(profile: str | None = None) -> dict:
    """A copy of :data:`RECIPES` for ``profile`` (default: the current one)."""
    profile = profile or runtime.get_profile()
    if profile not in RECIPES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(RECIPES)}")
    return dict(RECIPES[profile])


def layer_table(model: nn.Module, input_shape=(1, 3, 32, 32)) -> list[dict]:
    """One row per leaf layer: ``name``, ``layer`` (type), ``output`` shape and ``params``.

    Runs one forward pass on zeros of ``input_shape`` (eval mode, no gradients). Notebook 02
    prints it to check notebook 01's output-size and parameter-count formulas.
    """
    if len(tuple(input_shape)) != 4:
        raise ValueError(f"expected input_shape: (N, C, H, W), e.g. (1, 3, 32, 32), got "
                         f"{tuple(input_shape)}")
    rows, hooks = [], []
    for name, module in model.named_modules():
        if len(list(module.children())) == 0:
            def hook(mod, inp, out, name=name):
                rows.append(dict(name=name, layer=type(mod).__name__, output=tuple(out.shape),
                                 params=sum(p.numel() for p in mod.parameters())))
            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad(), runtime.eval_mode(model):
            model(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    return rows


def _profile(profile: str | None) -> str:
    return validate.choice(profile or runtime.get_profile(), runtime.PROFILES, "profile")


def cifar_checkpoint_path(profile: str | None = None) -> Path:
    """Where notebook 02 stores its trained model for this profile (reused by 03, 04, 07)."""
    profile = _profile(profile)
    return checkpoint_dir() / f"cifar_net_{profile}.pt"


def run_checkpoint_path(profile: str | None = None) -> Path:
    """The resumable training state of notebook 02's run (optimizer, epoch, history...)."""
    profile = _profile(profile)
    return checkpoint_dir() / f"cifar_net_{profile}_run.pt"


def load_checkpoint(path, model: nn.Module | None = None) -> tuple[nn.Module, dict]:
    """Read a checkpoint with ``weights_only=True``; rebuild a CifarNet if no model is given."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no checkpoint at {path}: run notebook 02 first (it writes it)")
    payload = artifacts.read(path, what="checkpoint")
    if payload is None:
        raise ValueError(f"{path} is not a usable checkpoint (see the line above): delete it "
                         f"and run notebook 02 again")
    if model is None:
        kind = (payload.get("config") or {}).get("kind")
        if kind is not None:
            raise ValueError(f"expected a CifarNet checkpoint, got one of a {kind!r} autoencoder: "
                             f"read it with helpers.autoencoders.load_autoencoder")
        model = CifarNet(**dict(payload.get("config") or {}))
    model.load_state_dict(payload["state"])
    return model, {k: v for k, v in payload.items() if k != "state"}


def cifar_record(source: str, recipe_: dict) -> dict:
    """What notebook 02's trained model records, and what a reuse must match: the CIFAR-10
    source it was trained on (``torchvision`` / ``image-folder`` / ``synthetic``) and the recipe."""
    validate.choice(source, artifacts.SOURCE_WORDS, "source")
    if not isinstance(recipe_, dict):
        raise TypeError(f"expected recipe_: a dict of training settings such as recipe(), got "
                        f"{type(recipe_).__name__} {recipe_!r}")
    return {"dataset": "cifar10", "source": source, "recipe": dict(recipe_)}


def cached_cifar_model(profile: str | None = None, source: str | None = None):
    """The model notebook 02 trained (``(model, info)``), or ``None``: not trained yet, or
    trained on other data (``source``: the CIFAR-10 source present now, default: what
    :func:`helpers.data.cifar10` finds) or with another recipe; one line then says which."""
    profile = profile or runtime.get_profile()
    recipe_ = recipe(profile)                      # an unknown profile fails before any data is read
    source = source or data.cifar10("test", n=1, verbose=False).source
    expected = cifar_record(source, recipe_)
    payload = artifacts.load(cifar_checkpoint_path(profile), expected, what="cifar model",
                             action="not reused")
    if payload is None:
        return None
    model = CifarNet(**dict(payload["config"]))
    model.load_state_dict(payload["state"])
    return model.eval(), {k: v for k, v in payload.items() if k != "state"}
