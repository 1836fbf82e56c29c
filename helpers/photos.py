"""Real photos that ship inside installed packages (no download), and ImageNet preprocessing.

Introduced in notebook 01 (smoothing and edges on real photos); notebooks 03 and 04 feed them
to the pretrained ResNet18. Sources: scikit-image's ``skimage.data`` and matplotlib's sample
data. Images come back as ``(H, W, 3)`` or ``(H, W)`` float64 NumPy arrays in ``[0, 1]``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import validate

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
