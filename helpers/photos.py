"""Real photos that ship inside installed packages (no download), and ImageNet preprocessing.

Introduced in notebook 01 (smoothing and edges on real photos); notebooks 03 and 04 feed them
to the pretrained ResNet18. Sources: scikit-image's ``skimage.data`` and matplotlib's sample
data. Images come back as ``(H, W, 3)`` or ``(H, W)`` float64 NumPy arrays in ``[0, 1]``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import runtime
from .plumbing import validate

#: name -> (package, loader description); all ship with the installed wheels
PHOTOS = {
    "cat": "skimage.data.chelsea",
    "coffee": "skimage.data.coffee",
    "astronaut": "skimage.data.astronaut",
    "rocket": "skimage.data.rocket",
    "motorcycle": "skimage.data.stereo_motorcycle (left view)",
    "hopper": "matplotlib sample_data/grace_hopper.jpg",
    "camera": "skimage.data.camera",
    "coins": "skimage.data.coins",
    "brick": "skimage.data.brick",
    "grass": "skimage.data.grass",
}
#: the colour photos that make sense as ImageNet inputs
IMAGENET_PHOTOS = ("cat", "coffee", "astronaut", "rocket", "motorcycle", "hopper")


def photo(name: str, gray: bool = False) -> np.ndarray:
    """A real photo as float64 in [0, 1]: ``(H, W, 3)`` colour, or ``(H, W)`` if gray."""
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}: choose one of {', '.join(PHOTOS)}")
    if name == "hopper":
        import matplotlib.cbook as cbook
        import matplotlib.image as mpimg

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            img = mpimg.imread(f, format="jpg")
    else:
        import skimage.data

        if name == "motorcycle":
            img = skimage.data.stereo_motorcycle()[0]
        else:
            img = getattr(skimage.data, PHOTOS[name].split(".")[-1])()
    from . import runtime

    runtime.record_source("photos", "real (shipped with scikit-image / matplotlib)")
    img = np.asarray(img, dtype=np.float64)
    if img.max() > 1.0:
        img = img / 255.0
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if gray and img.ndim == 3:
        img = img @ np.array([0.299, 0.587, 0.114])       # ITU-R 601 luma
    elif not gray and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return img


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` or ``(H, W)`` array in [0, 1] -> ``(C, H, W)`` float32 tensor."""
    shape = np.shape(img)
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3))):
        raise ValueError(f"expected img: an (H, W, 3) or (H, W) array (channels last), got shape "
                         f"{tuple(shape)}" + (": this looks channels-first, use img.transpose(1, 2, 0)"
                                              if len(shape) == 3 and shape[0] in (1, 3) else ""))
    t = torch.as_tensor(np.ascontiguousarray(img), dtype=torch.float32)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def imagenet_preprocess(img: np.ndarray | torch.Tensor, resize: int = 256, crop: int = 224) -> torch.Tensor:
    """ImageNet evaluation preprocessing WITHOUT normalization (our models normalize inside).

    Resize the shorter side to ``resize`` (bilinear, antialiased), then take the centre
    ``crop x crop``. Input ``(H, W, 3)`` array or ``(3, H, W)`` tensor in [0, 1];
    output ``(3, crop, crop)`` float32 in [0, 1].
    """
    resize = validate.integer(resize, "resize", meaning="pixels of the shorter side")
    crop = validate.integer(crop, "crop", maximum=resize, meaning="pixels of the centre square")
    if not isinstance(img, (np.ndarray, torch.Tensor)):
        raise TypeError(f"expected img: an (H, W, 3) array or a (3, H, W) tensor, got "
                        f"{type(img).__name__}")
    if img.dtype in (np.uint8, torch.uint8):
        raise TypeError(f"expected img: floats in [0, 1], got dtype {img.dtype}: divide by 255")
    x = to_tensor(img) if isinstance(img, np.ndarray) else img.float()
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected a colour image (H, W, 3) or (3, H, W), got {tuple(x.shape)}")
    lo, hi = float(x.min()), float(x.max())
    if lo < -validate.RANGE_TOL or hi > 1 + validate.RANGE_TOL:
        raise ValueError(f"expected img: pixels in [0, 1], got range [{lo:.3g}, {hi:.3g}]"
                         + (": divide by 255" if hi > 10 else ""))
    h, w = x.shape[1:]
    # as torchvision's Resize(int): the short side becomes `resize`, the long side is truncated
    size = (resize, int(resize * w / h)) if h <= w else (int(resize * h / w), resize)
    x = F.interpolate(x[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = round((x.shape[1] - crop) / 2), round((x.shape[2] - crop) / 2)
    return x[:, top:top + crop, left:left + crop].clamp(0, 1).contiguous()


def imagenet_batch(names=IMAGENET_PHOTOS) -> tuple[torch.Tensor, list[str]]:
    """The named photos preprocessed for ImageNet: ``(N, 3, 224, 224)`` in [0, 1], names."""
    if isinstance(names, str):
        raise TypeError(f"expected names: a list of photo names, got the string {names!r}: "
                        f"use [{names!r}]")
    names = list(names)
    return torch.stack([imagenet_preprocess(photo(n)) for n in names]), names


# --------------------------------------------------------------------------- ImageNet photos
#: the public repository of one real ImageNet photo per class, pinned to one commit
IMAGENET_SAMPLE_URL = ("https://raw.githubusercontent.com/EliSchwartz/imagenet-sample-images/"
                       "bc69043e2862758a1906c6a24a792bb28c6bb2ff/")
#: sha256 of each original file at that commit (``<digest>  <wnid>_<name>.JPEG``)
IMAGENET_DIGESTS = Path(__file__).with_name("imagenet_sample.sha256")


@dataclass
class PhotoSet:
    """Photos for an ImageNet network: ``images (N, 3, size, size)`` float in [0, 1],
    ``labels (N,)`` int64 class indices (None for photos without an ImageNet label),
    ``names`` (readable, from the file names), ``source`` (one line: where they came from)."""

    images: torch.Tensor
    labels: torch.Tensor | None
    names: list[str]
    source: str

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    def __len__(self) -> int:
        return len(self.images)


def imagenet_sample_files() -> list[str]:
    """The 1,000 file names ``<wnid>_<name>.JPEG``, sorted: position = ImageNet class index."""
    lines = IMAGENET_DIGESTS.read_text().split("\n")
    return sorted(line.split()[1] for line in lines if line.strip())


def _fetch_photo(name: str, digest: str, dest: Path) -> None:
    """Download one original photo, check its sha256, then rename into place (atomic)."""
    import hashlib
    import urllib.request

    from .plumbing.download import DOWNLOAD_TIMEOUT_S

    with urllib.request.urlopen(IMAGENET_SAMPLE_URL + name, timeout=DOWNLOAD_TIMEOUT_S) as r:
        blob = r.read()
    got = hashlib.sha256(blob).hexdigest()
    if got != digest:
        raise RuntimeError(f"{name}: sha256 {got[:12]}... does not match the pinned "
                           f"{digest[:12]}...: not saved")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    tmp.write_bytes(blob)
    os.replace(tmp, dest)


def _read_jpeg(path: Path, size: int) -> torch.Tensor:
    from PIL import Image

    with Image.open(path) as im:
        img = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return imagenet_preprocess(img, resize=round(size * 256 / 224), crop=size)


def imagenet_photos(n: int | None = None, seed: int = 0, size: int = 224, download: bool = True,
                    verbose: bool = True) -> PhotoSet:
    """``n`` real ImageNet photos (one per class, classes drawn at random with ``seed``; all
    1,000 when ``n`` is None), labelled from their file names, preprocessed to ``size`` px.

    Source order: ``<data dir>/imagenet-sample/`` (the ImageNet sample, resized, as CI
    extracts it) -> the originals fetched from the pinned public repository, each checked
    against :data:`IMAGENET_DIGESTS` and written atomically -> offline, the unlabelled photos
    that ship with scikit-image and matplotlib (``labels`` is None), said in one line.
    """
    from . import runtime
    from .plumbing.download import host_reachable

    files = imagenet_sample_files()
    n = len(files) if n is None else validate.integer(n, "n", maximum=len(files),
                                                     meaning="photos (one per class)")
    size = validate.integer(size, "size", minimum=32, meaning="pixels")
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(files), size=n, replace=False).tolist())
    folder = runtime.data_dir() / "imagenet-sample"
    missing = [i for i in pick if not (folder / files[i]).exists()]
    fetched = 0
    if missing and download and host_reachable(IMAGENET_SAMPLE_URL):
        digests = {line.split()[1]: line.split()[0]
                   for line in IMAGENET_DIGESTS.read_text().splitlines() if line.strip()}

        for i in runtime.progress(missing, desc="ImageNet photos", unit="photo", disable=len(missing) < 8):
            try:
                _fetch_photo(files[i], digests[files[i]], folder / files[i])
                fetched += 1
            except Exception as err:
                print(f"[photos] {files[i]} could not be fetched ({type(err).__name__}: {err})")
        missing = [i for i in pick if not (folder / files[i]).exists()]
    if missing and runtime.strict():
        raise RuntimeError(f"NB_STRICT=1 and {len(missing)} ImageNet sample photos are neither in "
                           f"{folder} nor downloadable: run `python -m helpers.plumbing.prefetch` with network "
                           f"access, or put the files {IMAGENET_SAMPLE_URL}<wnid>_<name>.JPEG there")
    if missing:
        names = list(IMAGENET_PHOTOS)
        images = torch.stack([imagenet_preprocess(photo(p), resize=round(size * 256 / 224), crop=size)
                              for p in names])
        source = (f"{len(names)} unlabelled photos shipped with scikit-image / matplotlib "
                  f"(the ImageNet sample is not in {folder} and could not be fetched)")
        runtime.record_source("ImageNet photos", source)
        if verbose:
            print(f"[photos] {source}: accuracy claims need labelled photos and are skipped")
        return PhotoSet(images, None, names, source)
    iterator = pick
    if len(pick) >= 200:

        iterator = runtime.progress(pick, desc="reading photos", unit="photo", leave=False)
    images = torch.stack([_read_jpeg(folder / files[i], size) for i in iterator])
    labels = torch.tensor(pick, dtype=torch.int64)
    names = [files[i].split("_", 1)[1].rsplit(".", 1)[0].replace("_", " ") for i in pick]
    source = (f"{n} real ImageNet photos, one per class (ImageNet sample"
              + (f", {fetched} fetched from the pinned repository and checked)" if fetched else
                 ", resized)"))
    runtime.record_source("ImageNet photos", source)
    if verbose:
        print(f"[photos] {source}, {size}x{size}")
    return PhotoSet(images, labels, names, source)
