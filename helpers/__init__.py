"""Shared code of the CNN lecture-companion notebooks.

One module per lecture (``conv`` 01; ``models``, ``train``, ``cifar_model`` 02; ``interpret``,
``synthesis`` 03; ``attacks`` 04; ``autoencoders`` 05; ``linalg`` 06; ``features`` 07), a small
kit every notebook uses (``runtime``, ``data``, ``photos``, ``pretrained``, ``plots``,
``checks``) and the ``plumbing`` sub-package (input checks, downloads, stand-ins, saved files),
which a student never needs to open. A lesson module imports only the kit, the plumbing and its
own lecture's modules. Notebooks start with::

    import helpers as H
    rt = H.setup(seed=0)
"""
from .runtime import get_device, get_profile, pick, progress, seed_everything, setup  # noqa: F401

__version__ = "0.1.0"
