"""The test suite (root conftest, so it also applies to `pytest notebooks/NN.ipynb`) runs every notebook in the `smoke` profile, offline.

These variables are set before nbval starts any kernel, so the kernels inherit them.
NB_OFFLINE=1 keeps the suite from downloading anything even on a connected machine; data
already cached in data/ (e.g. the Fashion-MNIST sample CI copies there) is still used.
"""
import os

os.environ["NB_PROFILE"] = "smoke"
os.environ.setdefault("NB_OFFLINE", "1")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
