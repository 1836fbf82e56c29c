"""Pretrained ImageNet models with the input normalization inside the model.

Introduced in notebook 03 (feature visualization); used by 04 (adversarial lab) and 07
(transfer). Inputs are ``x: (N, 3, H, W) float in [0, 1]`` — pixel space — so saliency maps
and attacks need no de-normalization. Weights come from torchvision's checksummed URLs and are
cached in ``<data dir>/weights``; offline, a labelled randomly initialised stand-in is returned
(``model.source == "random-init"``), or an error with ``NB_STRICT=1``.
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn

from . import runtime, validate
from .download import DOWNLOAD_TIMEOUT_S, host_reachable, socket_timeout

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: models the notebooks use; the weights enum member is pinned for reproducibility
MODELS = {
    "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    "vgg11_bn": "VGG11_BN_Weights.IMAGENET1K_V1",
    "mobilenet_v3_large": "MobileNet_V3_Large_Weights.IMAGENET1K_V1",
    "densenet121": "DenseNet121_Weights.IMAGENET1K_V1",
    "efficientnet_b0": "EfficientNet_B0_Weights.IMAGENET1K_V1",
}


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, as a layer. x: (N, 3, H, W) float in [0, 1]."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        if len(mean) != len(std) or min(std) <= 0:
            raise ValueError(f"expected mean and std: one value per channel each, std > 0, got "
                             f"mean {tuple(mean)} and std {tuple(std)}")
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class PixelModel(nn.Module):
    """A classifier that takes pixels in [0, 1]: ``normalize`` then ``net``.

    Attributes: ``net`` (the torchvision model; layer names like ``"net.layer3"``),
    ``classes`` (ImageNet class names from the weights' metadata), ``source``
    (``"pretrained"`` or ``"random-init"``), ``arch``.
    """

    def __init__(self, net: nn.Module, classes, source: str, arch: str,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise TypeError(f"expected net: an nn.Module classifier, got {type(net).__name__}")
        self.normalize = Normalize(mean, std)
        self.net = net
        self.classes, self.source, self.arch = list(classes), source, arch

    @property
    def is_pretrained(self) -> bool:
        return self.source == "pretrained"

    def forward(self, x):
        return self.net(self.normalize(x))


def _weights(arch: str):
    import torchvision

    if arch not in MODELS:
        raise ValueError(f"unknown model {arch!r}: choose one of {', '.join(MODELS)}")
    enum_name, member = MODELS[arch].split(".")
    return getattr(torchvision.models, enum_name)[member]


def weights_path(arch: str):
    """Where the weights file of ``arch`` is cached (the file name torchvision uses)."""
    w = _weights(arch)
    return runtime.data_dir() / "weights" / os.path.basename(w.url)


def _download(url: str, dest) -> None:
    """torch.hub's download writes to a temp file, checks the sha256 prefix in the file
    name, then renames: a broken download never lands at ``dest``."""
    from torch.hub import HASH_REGEX, download_url_to_file

    dest.parent.mkdir(parents=True, exist_ok=True)
    match = HASH_REGEX.search(os.path.basename(url))
    with socket_timeout(DOWNLOAD_TIMEOUT_S):
        download_url_to_file(url, str(dest), hash_prefix=match.group(1) if match else None,
                             progress=True)


def _load_state(path):
    import hashlib

    from torch.hub import HASH_REGEX

    match = HASH_REGEX.search(path.name)
    if match:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if not sha.startswith(match.group(1)):
            raise RuntimeError(f"{path} is corrupt (sha256 {sha[:8]}..., expected "
                               f"{match.group(1)}...): delete it and download again")
    return torch.load(path, map_location="cpu", weights_only=True)


def imagenet_model(arch: str = "resnet18", download: bool = True, verbose: bool = True) -> PixelModel:
    """A torchvision ImageNet classifier taking pixels in [0, 1], in eval mode, on the CPU.

    Pretrained weights when cached or downloadable; else a labelled random-init stand-in.
    """
    import torchvision

    w = _weights(arch)
    path = weights_path(arch)
    net = torchvision.models.get_model(arch, weights=None)
    place = (f"run `python -m helpers.prefetch` with network access, or download {w.url} "
             f"to {path}")
    reason = ""
    if not path.exists() and download:
        if host_reachable(w.url):
            try:
                _download(w.url, path)
            except Exception as err:
                reason = f"the download failed ({type(err).__name__}: {err})"
        else:
            reason = "no network: the weights server did not answer"
    if path.exists():
        try:
            net.load_state_dict(_load_state(path))
            source = "pretrained"
        except Exception as err:
            reason = f"the cached weights could not be used ({err})"
            net = torchvision.models.get_model(arch, weights=None)
    if reason or not path.exists():
        reason = reason or "not cached and download=False"
        if runtime.strict():
            raise RuntimeError(f"NB_STRICT=1 and the {arch} weights are not available "
                               f"({reason}). {place}")
        source = "random-init"
        if verbose:
            bar = "!" * 78
            print(f"{bar}\n!! OFFLINE STAND-IN: {arch} has RANDOM weights, not the pretrained "
                  f"ones.\n!! Why: {reason}\n!! Its predictions are meaningless; claims that "
                  f"need pretrained weights are skipped.\n!! For the real weights: {place}\n{bar}")
    model = PixelModel(net, w.meta["categories"], source, arch).eval()
    desc = f"pretrained ({w})" if source == "pretrained" else "RANDOM-INIT stand-in (offline)"
    runtime.record_source(arch, desc)
    if verbose and source == "pretrained":
        print(f"[model] {arch}: {desc}")
    return model


def resnet18(**kw) -> PixelModel:
    """torchvision ResNet18 with ``ResNet18_Weights.IMAGENET1K_V1`` (see :func:`imagenet_model`)."""
    return imagenet_model("resnet18", **kw)


def top_k(model: PixelModel, x: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
    """Top-k (class name, probability) per image. x: (N, 3, H, W) float in [0, 1]."""
    x = validate.images(x, "x")
    k = validate.integer(k, "k", maximum=len(model.classes), meaning="classes to list per image")
    with torch.no_grad():
        p = model(x).softmax(dim=1)
    probs, idx = p.topk(k, dim=1)
    return [[(model.classes[i], float(q)) for q, i in zip(pr, ix)]
            for pr, ix in zip(probs.tolist(), idx.tolist())]
