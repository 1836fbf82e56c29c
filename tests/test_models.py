"""Unit tests of helpers.models: shapes and parameter counts by formula, checkpoints, recipes."""
import pytest
import torch
import torch.nn as nn

from helpers import models


def conv_params(c_in, c_out, k=3, bias=False):
    return k * k * c_in * c_out + (c_out if bias else 0)


@pytest.mark.parametrize("width,residual,batchnorm", [(4, True, True), (3, False, True), (2, True, False)])
def test_shapes_and_parameter_count(width, residual, batchnorm):
    net = models.cifar_net(width=width, residual=residual, batchnorm=batchnorm)
    x = torch.rand(5, 3, 32, 32)
    assert net(x).shape == (5, 10) and net.features(x).shape == (5, 8 * width)
    w, b = width, not batchnorm
    bn = (lambda c: 2 * c) if batchnorm else (lambda c: 0)
    expected = (conv_params(3, w, bias=b) + bn(w) + conv_params(w, 2 * w, bias=b) + bn(2 * w)
                + conv_params(2 * w, 4 * w, bias=b) + bn(4 * w)
                + conv_params(4 * w, 8 * w, bias=b) + bn(8 * w) + 8 * w * 10 + 10)
    if residual:
        expected += 2 * (conv_params(2 * w, 2 * w, bias=b) + bn(2 * w))
        expected += 2 * (conv_params(8 * w, 8 * w, bias=b) + bn(8 * w))
    assert models.count_parameters(net) == expected
    rows = models.layer_table(net)
    assert sum(r["params"] for r in rows) == expected
    assert rows[-1]["output"] == (1, 10)
    sizes = [r["output"][-1] for r in rows if r["layer"] == "MaxPool2d"]
    assert sizes == [16, 8, 4]
    assert isinstance(net.first_conv, nn.Conv2d) and net.first_conv.in_channels == 3


def test_head_scale_multiplies_the_logits():
    torch.manual_seed(0)
    a = models.cifar_net(width=2).eval()
    b = models.cifar_net(width=2, head_scale=0.125).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(b(x), 0.125 * a(x))
    assert b.config["head_scale"] == 0.125


def test_layer_table_restores_mode_and_leaves_no_hooks():
    net = models.cifar_net(width=2).train()
    models.layer_table(net)
    assert net.training
    assert all(not m._forward_hooks for m in net.modules())


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="width"):
        models.cifar_net(width=0)
    with pytest.raises(ValueError, match="dropout"):
        models.cifar_net(dropout=1.0)
    with pytest.raises(ValueError, match="profile"):
        models.recipe("tpu")
    with pytest.raises(TypeError, match="nn.Module"):
        models.save_checkpoint("x.pt", {"not": "a model"})
    with pytest.raises(FileNotFoundError, match="notebook 02"):
        models.load_checkpoint("does/not/exist.pt")


def test_checkpoint_round_trip_is_identical(tmp_path):
    torch.manual_seed(0)
    net = models.cifar_net(width=3, dropout=0.2, residual=False)
    net.train()(torch.rand(8, 3, 32, 32))           # move the BN running statistics
    path = models.save_checkpoint(tmp_path / "sub" / "m.pt", net, test_acc=0.5, data_source="synthetic")
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    loaded, info = models.load_checkpoint(path)      # rebuilt from the stored config
    assert info["test_acc"] == 0.5 and info["data_source"] == "synthetic"
    assert info["config"]["width"] == 3 and info["config"]["residual"] is False
    for (k, a), (k2, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(net.eval()(x), loaded.eval()(x))
    payload = torch.load(path, weights_only=True)    # readable without unpickling code
    assert set(payload) >= {"state", "config", "test_acc"}


def test_cached_model_and_paths(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    assert models.cached_cifar_model("smoke", source="synthetic") is None     # nothing saved yet
    net = models.cifar_net(width=2)
    path = models.cifar_checkpoint_path("smoke")
    made_from = models.cifar_record("synthetic", models.recipe("smoke"))
    models.save_checkpoint(path, net, made_from=made_from, test_acc=0.3)
    model, info = models.cached_cifar_model("smoke", source="synthetic")
    assert not model.training and info["test_acc"] == 0.3
    capsys.readouterr()
    # the same file is never used on real images: one line says why, and None is returned
    assert models.cached_cifar_model("smoke", source="image-folder") is None
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "not reused" in out and path.name in out
    # a file without a record (an older format) is not reused either, with a clear line
    models.save_checkpoint(path, net, test_acc=0.3)
    assert models.cached_cifar_model("smoke", source="synthetic") is None
    assert "not reused" in capsys.readouterr().out
    assert models.cifar_checkpoint_path("gpu").name == "cifar_net_gpu.pt"
    assert models.run_checkpoint_path("cpu") != models.cifar_checkpoint_path("cpu")
    assert models.cached_cifar_model("gpu", source="synthetic") is None


def test_recipes():
    for profile in ("smoke", "cpu", "gpu"):
        r = models.recipe(profile)
        assert {"width", "epochs", "batch_size", "lr", "n_train"} <= set(r)
        r["width"] = -1                              # a copy: the table is unchanged
        assert models.RECIPES[profile]["width"] > 0
    assert models.recipe("gpu")["width"] == 64 and models.recipe("gpu")["batch_size"] == 512
