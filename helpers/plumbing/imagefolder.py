"""A dataset stored as class folders of image files (``<root>/<split>/<class>/*.png|jpg``).

Introduced in notebook 02: when torchvision's checksummed CIFAR-10 batches are not in the data
folder, :func:`helpers.data.cifar10` reads a class-folder copy of the real images from
``<data dir>/cifar10/`` (a Kaggle-style or image-folder mirror) and labels it
``source == "image-folder"``. The folder is checked before it is trusted: every class present,
every image readable and of the expected size, the expected number per class. Any problem
raises :class:`ImageFolderError` naming the folder or file; a partial dataset is never
returned.

Decoding 60,000 small images takes ~10 s, so the decoded arrays are cached next to the
images (``.decoded-<split>.pt``, written atomically by :mod:`helpers.plumbing.artifacts`) together
with a fingerprint of the files (names, sizes, modification times); the cache is used only
while that fingerprint still matches the folder.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .. import runtime
from . import artifacts, validate

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


class ImageFolderError(ValueError):
    """The class folders are not a complete, readable copy of the dataset."""


def list_files(split_dir: Path, classes) -> list[tuple[Path, int]]:
    """``(file, label)`` for every image of every class folder, sorted; checks the classes."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise ImageFolderError(f"no folder {split_dir}: expected {split_dir}/<class>/*.png")
    found = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    missing = [c for c in classes if c not in found]
    if missing:
        raise ImageFolderError(f"{split_dir} lacks the class folder(s) {', '.join(missing)} "
                               f"(found: {', '.join(found) or 'none'})")
    files = []
    for label, name in enumerate(classes):
        files += [(p, label) for p in sorted((split_dir / name).iterdir())
                  if p.suffix.lower() in EXTENSIONS and not p.name.startswith(".")]
    return files


def fingerprint(files) -> str:
    """sha256 over every file's relative name, size and modification time."""
    h = hashlib.sha256()
    files = list(files)
    for item in files:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"expected files: (path, label) pairs as list_files returns them, "
                            f"got an item {item!r}")
    for path, label in files:
        st = path.stat()
        h.update(f"{path.parent.name}/{path.name}:{st.st_size}:{st.st_mtime_ns}:{label}\n".encode())
    return h.hexdigest()[:16]


def decode(files, size: tuple[int, int], channels: int = 3, progress: bool = True):
    """Decode the files to ``images: (N, C, H, W) uint8`` and ``labels: (N,) int64``."""
    from PIL import Image

    mode = {1: "L", 3: "RGB"}[validate.choice(channels, (1, 3), "channels")]
    h, w = size
    images = np.empty((len(files), h, w, channels), dtype=np.uint8)
    for i, (path, _) in enumerate(runtime.progress(files, desc=f"decoding {len(files):,} images",
                                      unit="img", disable=not progress, mininterval=1)):
        try:
            with Image.open(path) as img:
                if img.size != (w, h):
                    raise ImageFolderError(f"{path} is {img.size[0]}x{img.size[1]} pixels, "
                                           f"expected {w}x{h}")
                images[i] = np.asarray(img.convert(mode)).reshape(h, w, channels)
        except ImageFolderError:
            raise
        except Exception as err:
            raise ImageFolderError(f"{path} could not be read as an image "
                                   f"({type(err).__name__}: {err})") from None
    labels = torch.tensor([label for _, label in files], dtype=torch.long)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels


def read_split(root, split: str, classes, per_class: int | None, size=(32, 32),
               channels: int = 3, cache: bool = True, progress: bool = True):
    """Images and labels of ``<root>/<split>/<class>/*`` (see the module docstring).

    ``per_class``: the number of images every class must have (``None``: any, at least one).
    Returns ``(images: (N, C, H, W) uint8, labels: (N,) int64)``, ordered by class, then file.
    """
    split_dir = Path(root) / split
    files = list_files(split_dir, classes)
    counts = np.bincount([label for _, label in files], minlength=len(classes))
    wrong = [f"{c}: {n}" for c, n in zip(classes, counts) if (n != per_class if per_class else n == 0)]
    if wrong:
        want = f"{per_class:,} per class" if per_class else "at least one per class"
        raise ImageFolderError(f"{split_dir} has the wrong number of images ({', '.join(wrong)}; "
                               f"expected {want})")
    made_from = dict(folder=split, fingerprint=fingerprint(files), classes=list(classes),
                     size=list(size), channels=channels)
    cache_path = Path(root) / f".decoded-{split}.pt"
    if cache:
        saved = artifacts.load(cache_path, made_from, what="image cache")
        if saved is not None and artifacts.digest(saved["images"], saved["labels"]) == saved["digest"]:
            return saved["images"], saved["labels"]
        if saved is not None:
            print(f"[image cache] {cache_path} does not match its checksum: rebuilding it")
    images, labels = decode(files, size, channels, progress)
    if cache:
        try:
            artifacts.save(cache_path, dict(images=images, labels=labels,
                                            digest=artifacts.digest(images, labels)), made_from)
        except OSError as err:  # a read-only copy of the data still works, only slower
            print(f"[image cache] could not write {cache_path} ({err}); decoding every time")
    return images, labels
