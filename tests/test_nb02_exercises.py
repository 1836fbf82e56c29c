"""Notebook 02's "Try it" answers (helpers.train.try_it_expected) against PyTorch itself, and the
checker's verdicts: the notebook shows only the student's own result, so the self-test lives here."""
import math

import pytest
import torch
import torch.nn as nn

from helpers import checks, train


def test_answers_agree_with_pytorch():
    e = train.try_it_expected()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(50_000, 1)),
                                         batch_size=512)
    assert e["steps"] == len(loader) == 98
    conv = nn.Conv2d(64, 128, 3, bias=False)
    assert e["params"] == sum(p.numel() for p in conv.parameters())
    torch.manual_seed(0)
    drop = nn.Dropout(p=0.2).train()
    out = drop(torch.full((1000,), 2.0))
    assert torch.allclose(out[out != 0], torch.tensor(e["dropout_torch"]))
    assert e["dropout_slides"] == pytest.approx(1.6)           # keep probability 0.8, times 2.0
    bn = nn.BatchNorm2d(1, affine=False, eps=1e-12).train()   # eps must be > 0
    y = bn(torch.tensor([1.0, 2.0, 3.0, 6.0]).view(4, 1, 1, 1))
    assert e["bn"] == pytest.approx(y[3].item(), abs=1e-6)


def test_checker_accepts_the_answers_and_rejects_the_other_convention(capsys):
    e = train.try_it_expected()
    for key, atol in (("steps", 1e-6), ("params", 1e-6), ("dropout_torch", 1e-9),
                      ("dropout_slides", 1e-9), ("bn", 1e-3)):
        assert checks.exercise(key, e[key], e[key], atol=atol)
    assert not checks.exercise("steps", 50_000 // 512, e["steps"])          # floor, not ceil
    assert not checks.exercise("params", 3 * 3 * 64 * 128 + 128, e["params"])  # a bias it has not
    assert not checks.exercise("dropout", 2.0, e["dropout_torch"], atol=1e-9)  # forgot 1/(1-p)
    assert not checks.exercise("dropout", 2.0 / 0.2, e["dropout_torch"], atol=1e-9)  # p read as keep
    assert not checks.exercise("slides", 2.0 * 0.2, e["dropout_slides"], atol=1e-9)
    assert not checks.exercise("bn", (6 - 3) / math.sqrt(14 / 3), e["bn"], atol=1e-3)  # unbiased var
    assert "not yet" in capsys.readouterr().out
