"""Datasets: real torchvision loaders first, labelled synthetic stand-ins when offline.

Introduced in notebook 01 (setup); CIFAR-10 is used from notebook 02 on, Fashion-MNIST in
notebooks 05 and 06. Every dataset comes back as an :class:`ImageData`:
``ds.images`` is ``(N, C, H, W) uint8``, ``ds.labels`` ``(N,) int64``, ``ds[i]`` gives
``(x: (C, H, W) float in [0, 1], label)``, and ``ds.source`` says where it came from
(``"torchvision"`` for the checksummed real data, ``"image-folder"`` for a class-folder copy
of the real images, ``"synthetic"`` for a stand-in).

Downloads (:mod:`helpers.plumbing.download`) go to a temporary folder inside the data directory, are
verified by torchvision's checksums, and only then moved into place, so a partial download is
never read as data.
"""
from __future__ import annotations

from pathlib import Path

import torch

from . import runtime
from .plumbing import artifacts, imagefolder, standins, validate
from .plumbing.download import download_into_place, host_reachable
from .plumbing.standins import CIFAR10_CLASSES, FASHION_CLASSES

DATASETS = ("cifar10", "fashion_mnist")


#: where datasets, weights, checkpoints and caches live (defined in :mod:`helpers.runtime`,
#: which every module may import; kept here under its old name)
data_dir = runtime.data_dir


# --------------------------------------------------------------------------- dataset
class ImageData(torch.utils.data.Dataset):
    """Images as one uint8 tensor plus labels; indexing gives float images in [0, 1].

    images: (N, C, H, W) uint8; labels: (N,) int64; classes: list of names;
    source: "torchvision" or "image-folder" (real) or "synthetic" (stand-in).
    """

    def __init__(self, images, labels, classes, name, split, source, transform=None):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise TypeError(f"images must be a (N, C, H, W) uint8 tensor, got "
                            f"{tuple(images.shape)} {images.dtype}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
        self.images, self.labels = images, labels.long()
        self.classes, self.name, self.split, self.source = list(classes), name, split, source
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i):
        x = self.images[i].float().div_(255)
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[i])

    @property
    def is_real(self) -> bool:
        return self.source != "synthetic"

    def digest(self) -> str:
        """A short sha256 of the images and labels (what checkpoints record)."""
        if getattr(self, "_digest", None) is None:
            self._digest = artifacts.digest(self.images, self.labels)
        return self._digest

    def record(self) -> dict:
        """What a checkpoint or cache made from this data records (see helpers.plumbing.artifacts)."""
        return dict(dataset=self.name, source=self.source, split=self.split, n=len(self),
                    digest=self.digest())

    def tensors(self, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as ``(N, C, H, W) float32 in [0, 1]`` and labels, on ``device``."""
        x = self.images.to(device).float().div_(255)
        return x, self.labels.to(device)

    def subset(self, indices) -> "ImageData":
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ImageData(self.images[idx], self.labels[idx], self.classes, self.name,
                         self.split, self.source, self.transform)

    def per_class(self, n: int, seed: int = 0) -> "ImageData":
        """A random subset with exactly ``n`` images of every class."""
        g = torch.Generator().manual_seed(seed)
        picks = []
        for c in range(len(self.classes)):
            idx = (self.labels == c).nonzero().flatten()
            if len(idx) < n:
                raise ValueError(f"class {self.classes[c]!r} has only {len(idx)} images, "
                                 f"asked for {n} per class")
            picks.append(idx[torch.randperm(len(idx), generator=g)[:n]])
        return self.subset(torch.cat(picks))

    def __repr__(self) -> str:
        return (f"ImageData({self.name}/{self.split}: {len(self)} images "
                f"{tuple(self.images.shape[1:])}, {len(self.classes)} classes, source={self.source})")


def _shuffled(images, labels, n, seed):
    """A fixed-seed random order of the whole set, cut to its first ``n`` (None: all).

    Never the files' own order: image folders and the Fashion-MNIST sample are stored class by
    class, so ``ds[:1000]`` of an unshuffled set would be one class (1,000 airplanes)."""
    if n is not None and n < 1:
        raise ValueError(f"n must be >= 1 (or None for all), got {n}")
    idx = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
    return images[idx], labels[idx]


def _standin_banner(what: str, reason: str, place: str) -> None:
    bar = "!" * 78
    print(f"{bar}\n!! OFFLINE STAND-IN: {what} is a SYNTHETIC dataset, not the real one.\n"
          f"!! Why: {reason}\n!! Numbers below describe the stand-in, not {what}.\n"
          f"!! For the real data: {place}\n{bar}")


def _strict_error(what: str, place: str, reason: str) -> RuntimeError:
    return RuntimeError(f"NB_STRICT=1 and {what} is not available ({reason}). {place}")


# --------------------------------------------------------------------------- loaders
def _tv_cifar10(root: Path, train: bool):
    import torchvision

    ds = torchvision.datasets.CIFAR10(root=str(root), train=train, download=False)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()   # (N, 3, 32, 32)
    return images, torch.tensor(ds.targets, dtype=torch.long)


def _tv_fashion(root: Path, train: bool):
    import torchvision

    ds = torchvision.datasets.FashionMNIST(root=str(root), train=train, download=False)
    images = ds.data[:, None].contiguous()                                 # (N, 1, 28, 28)
    if images.dtype != torch.uint8 or images.shape[1:] != (1, 28, 28):
        raise RuntimeError(f"unexpected FashionMNIST array {tuple(images.shape)} {images.dtype}")
    return images, ds.targets.long()


def _cifar_fetch(tmp: Path) -> None:
    import torchvision

    torchvision.datasets.CIFAR10(root=str(tmp), train=True, download=True)


def _fashion_fetch(tmp: Path) -> None:
    import torchvision

    torchvision.datasets.FashionMNIST(root=str(tmp), train=True, download=True)
    torchvision.datasets.FashionMNIST(root=str(tmp), train=False, download=True)


_SPECS = {
    "cifar10": dict(title="CIFAR-10", reader=_tv_cifar10, fetch=_cifar_fetch,
                    folder="cifar-10-batches-py", classes=CIFAR10_CLASSES,
                    synth=standins.synthetic_cifar10, sizes=(50_000, 10_000),
                    image_folder="cifar10", image_size=(32, 32),
                    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "fashion_mnist": dict(title="Fashion-MNIST", reader=_tv_fashion, fetch=_fashion_fetch,
                          folder="FashionMNIST", classes=FASHION_CLASSES,
                          synth=standins.synthetic_fashion_mnist, sizes=(60_000, 10_000),
                          url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
}


def load(name: str, split: str = "train", n: int | None = None, seed: int = 0,
         download: bool = True, verbose: bool = True) -> ImageData:
    """Load ``"cifar10"`` or ``"fashion_mnist"`` (``split`` = ``"train"`` or ``"test"``).

    Order: the cache in :func:`data_dir` -> a checksummed download (if the host answers
    within a few seconds) -> a labelled synthetic stand-in (or an error with ``NB_STRICT=1``).
    The images come in a random order fixed by ``seed`` (never class by class); ``n`` keeps the
    first ``n`` of that order.
    """
    if name not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}: expected 'train' or 'test'")
    if n is not None:
        n = validate.integer(n, "n", minimum=1, meaning="images to keep, or None for all")
    spec, root, train = _SPECS[name], data_dir(), split == "train"
    place = (f"run `python -m helpers.plumbing.prefetch` with network access, or put torchvision's "
             f"'{spec['folder']}' folder into {root}"
             + (f" (or class folders of the images as {root / spec['image_folder']}/"
                f"{split}/<class>/*.png)" if spec.get("image_folder") else ""))
    reason = ""
    if (root / spec["folder"]).exists():
        try:
            images, labels = spec["reader"](root, train)
        except Exception as err:  # corrupt / partial cache: never use it
            reason = (f"the cached copy in {root / spec['folder']} is incomplete or corrupt "
                      f"({type(err).__name__}: {err}); delete that folder")
            print(f"warning: {reason}")
        else:
            return _finish(name, split, images, labels, spec, "torchvision", n, seed, verbose)
    if download and not reason:
        if host_reachable(spec["url"]):
            try:
                download_into_place(spec["fetch"], spec["folder"], root)
                images, labels = spec["reader"](root, train)
                return _finish(name, split, images, labels, spec, "torchvision", n, seed, verbose)
            except Exception as err:
                reason = f"the download failed ({type(err).__name__}: {err})"
        else:
            reason = "no network: the download server did not answer"
    folder = _image_folder(name, split, root, spec)
    if isinstance(folder, tuple):
        return _finish(name, split, *folder, spec, "image-folder", n, seed, verbose)
    reason = "; ".join(r for r in (reason or "not cached and download=False", folder) if r)
    if runtime.strict():
        raise _strict_error(spec["title"], place, reason)
    size = spec["sizes"][0 if train else 1]
    count = size if n is None else min(n, size)
    images, labels = spec["synth"](count, seed=seed + (0 if train else 1))
    if verbose:
        _standin_banner(spec["title"], reason, place)
    return _finish(name, split, images, labels, spec, "synthetic", None, seed, verbose)


def _image_folder(name, split, root, spec):
    """``(images, labels)`` from ``<root>/<image_folder>/<split>/<class>/``, or a reason why not
    (``""`` when there is no such folder)."""
    folder = spec.get("image_folder")
    if not folder or not (root / folder).is_dir():
        return ""
    per_class = spec["sizes"][0 if split == "train" else 1] // len(spec["classes"])
    try:
        return imagefolder.read_split(root / folder, split, spec["classes"], per_class,
                                      size=spec["image_size"])
    except imagefolder.ImageFolderError as err:
        print(f"warning: the image folder copy of {spec['title']} is not usable: {err}")
        return f"the image folder {root / folder} is not usable ({err})"


def _finish(name, split, images, labels, spec, source, n, seed, verbose) -> ImageData:
    total = len(labels)
    images, labels = _shuffled(images, labels, n, seed)
    ds = ImageData(images, labels, spec["classes"], name, split, source)
    full = spec["sizes"][0 if split == "train" else 1]
    if source == "synthetic":
        desc = "SYNTHETIC stand-in (offline)"
    elif source == "image-folder":
        desc = f"real {spec['title']} images (image folder, {len(labels):,} of {full:,})"
    else:
        desc = (f"real (torchvision, {len(labels):,} of {full:,})" if total >= full
                else f"real sample ({total} of {full} images)")
    runtime.record_source(f"{spec['title']} {split}", desc)
    if verbose:
        drawn = f" drawn with seed {seed}" if n is not None and n < total else ""   # two subsets differ by it
        print(f"[data] {spec['title']} {split}: {len(ds)} images{drawn} {tuple(images.shape[1:])}, "
              f"{desc}")
    return ds


def cifar10(split: str = "train", n: int | None = None, seed: int = 0, **kw) -> ImageData:
    """CIFAR-10 (notebook 02 on): ``(N, 3, 32, 32) uint8``, 10 classes."""
    return load("cifar10", split, n=n, seed=seed, **kw)


def fashion_mnist(split: str = "train", n: int | None = None, seed: int = 0, **kw) -> ImageData:
    """Fashion-MNIST (notebooks 05, 06): ``(N, 1, 28, 28) uint8``, 10 classes."""
    return load("fashion_mnist", split, n=n, seed=seed, **kw)
