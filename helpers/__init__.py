"""Shared code of the CNN lecture-companion notebooks.

Each module has one concern: ``runtime`` (profile, device, seed, banner), ``data``
(datasets and offline stand-ins), ``photos`` (real photos shipped with packages),
``pretrained`` (ImageNet models taking pixels in [0, 1]), ``plots`` (figures), and the
modules the later notebooks add. Notebooks start with::

    import helpers as H
    rt = H.setup(seed=0)
"""
from .runtime import get_device, get_profile, pick, progress, seed_everything, setup  # noqa: F401

__version__ = "0.1.0"
