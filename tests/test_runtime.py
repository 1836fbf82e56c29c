"""helpers.runtime: profiles, device, seeding, worker count, banner."""
import json
import os

import pytest
import torch

from helpers import runtime


def test_profile_from_environment(monkeypatch):
    for p in runtime.PROFILES:
        monkeypatch.setenv("NB_PROFILE", p)
        assert runtime.get_profile() == p
    monkeypatch.delenv("NB_PROFILE")
    expected = "gpu" if torch.cuda.is_available() or runtime._mps_available() else "cpu"
    assert runtime.get_profile() == expected


def test_unknown_profile_is_explained(monkeypatch):
    monkeypatch.setenv("NB_PROFILE", "fast")
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        runtime.get_profile()


def test_pick(monkeypatch):
    monkeypatch.setenv("NB_PROFILE", "cpu")
    assert runtime.pick(smoke=1, cpu=2, gpu=3) == 2
    assert runtime.pick(smoke=1, cpu=2, gpu=3, profile="gpu") == 3


def test_device_override(monkeypatch):
    monkeypatch.setenv("NB_DEVICE", "cpu")
    assert runtime.get_device().type == "cpu"
    monkeypatch.setenv("NB_DEVICE", "tpu")
    with pytest.raises(ValueError, match="cpu, cuda or mps"):
        runtime.get_device()


def test_seed_everything_repeats():
    runtime.seed_everything(3)
    a = torch.rand(4)
    runtime.seed_everything(3)
    assert torch.equal(a, torch.rand(4))


def test_num_workers_never_exceeds_cores(monkeypatch):
    for p in ("cpu", "gpu"):
        assert 0 <= runtime.num_workers(p) <= max(0, runtime.cpu_count() - 1)
    assert runtime.num_workers("smoke") == 0


def test_setup_banner_and_report(tmp_path, monkeypatch, capsys):
    report = tmp_path / "r.json"
    monkeypatch.setenv("NB_REPORT", str(report))
    monkeypatch.setenv("NB_PROFILE", "smoke")
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path / "d"))
    rt = runtime.setup(seed=1, title="T")
    out = capsys.readouterr().out
    for word in ("profile : smoke", "device", "torch", "torchvision", "data dir"):
        assert word in out
    runtime.record_source("X", "real")
    written = json.loads(report.read_text())
    assert written["profile"] == "smoke" and written["sources"] == {"X": "real"}
    assert written["device"] == str(rt.device)
    assert rt.pick(smoke="s", cpu="c", gpu="g") == "s"
    assert os.path.isdir(rt.data_dir)
