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


def test_report_folder_gets_one_file_per_notebook(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NB_REPORT", str(tmp_path))             # a folder: the test suite's mode
    monkeypatch.setenv("NB_PROFILE", "smoke")
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path / "d"))
    runtime.setup(title="07 · Transfer learning", quiet=True)
    runtime.record_source("CIFAR-10 test", "real")
    written = json.loads((tmp_path / "07_Transfer_learning.json").read_text())
    assert written["title"] == "07 · Transfer learning" and written["sources"] == {"CIFAR-10 test": "real"}


def test_version_floor_passes_here_and_names_what_to_install():
    runtime.check_versions()                                     # this environment is supported
    runtime.check_versions({"torch": "2.5.1+cu124", "torchvision": "0.20.1"})   # the oldest tested
    runtime.check_versions({"torch": "2.14.1", "torchvision": "0.29.1"})
    with pytest.raises(RuntimeError, match=r"torch 2\.4\.1 is older than 2\.5.*pip install -U"):
        runtime.check_versions({"torch": "2.4.1", "torchvision": "0.20.1"})
    with pytest.raises(RuntimeError, match=r"torchvision 0\.19\.0a0\+abc is older than 0\.20"):
        runtime.check_versions({"torch": "2.5.0", "torchvision": "0.19.0a0+abc"})
    with pytest.raises(RuntimeError, match="torchvision is not installed"):
        runtime.check_versions({"torch": "2.5.0"})


def test_release_parsing():
    assert runtime._release("2.5.1+cu124") == (2, 5, 1)
    assert runtime._release("2.6.0.dev20241112") == (2, 6, 0)
    assert runtime._release("0.20.0a0+git1234") == (0, 20, 0)
    assert runtime._release("10.1rc1") == (10, 1)


def test_eval_mode_restores_every_submodule_even_when_the_block_raises():
    import torch.nn as nn

    net = nn.Sequential(nn.BatchNorm1d(2), nn.Dropout(0.5), nn.Linear(2, 2))
    net.train()
    net[1].eval()                                   # a mixed state must come back exactly
    before = [m.training for m in net.modules()]
    with runtime.eval_mode(net):
        assert not any(m.training for m in net.modules())
    assert [m.training for m in net.modules()] == before
    with pytest.raises(RuntimeError):
        with runtime.eval_mode(net):
            raise RuntimeError("a failing cell")
    assert [m.training for m in net.modules()] == before


def test_a_split_loaded_twice_names_both_draws():
    from helpers import runtime
    runtime.SOURCES.clear()
    runtime.record_source("Fashion-MNIST test", "real (torchvision, 200 of 10,000)")
    runtime.record_source("Fashion-MNIST test", "real (torchvision, 1 of 10,000)")
    runtime.record_source("Fashion-MNIST test", "real (torchvision, 200 of 10,000)")
    assert runtime.SOURCES["Fashion-MNIST test"] == "real (torchvision, 200 of 10,000); real (torchvision, 1 of 10,000)"
    runtime.SOURCES.clear()
