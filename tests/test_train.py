"""Unit tests of helpers.train against independent oracles (NumPy, nn.BatchNorm2d, slow loops)."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import models, train

CPU = torch.device("cpu")


def tiny_problem(n=64, seed=0):
    """Two easy classes: bright vs dark images (so a tiny net learns them in a few steps)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = (0.25 + 0.5 * y[:, None, None, None] + 0.1 * torch.randn(n, 3, 32, 32, generator=g))
    return x.clamp(0, 1), y


def tiny_net(seed=0, **kw):
    torch.manual_seed(seed)
    return models.cifar_net(width=2, num_classes=2, **kw)


def test_batchnorm_formula_matches_nn_batchnorm():
    torch.manual_seed(0)
    x = (2 * torch.randn(8, 3, 5, 5) + 1).double()
    bn = nn.BatchNorm2d(3).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, 1.5, 2.0]))
        bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    out = bn.train()(x).detach().numpy()
    a = x.numpy()
    mu = a.mean(axis=(0, 2, 3))
    var = a.var(axis=(0, 2, 3))                               # biased, as in the formula
    gamma, beta = bn.weight.detach().numpy(), bn.bias.detach().numpy()
    ref = gamma[None, :, None, None] * (a - mu[None, :, None, None]) / np.sqrt(
        var[None, :, None, None] + bn.eps) + beta[None, :, None, None]
    np.testing.assert_allclose(out, ref, atol=1e-10)
    n = a.size / a.shape[1]
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mu, atol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * var * n / (n - 1), atol=1e-12)
    ref_eval = gamma[None, :, None, None] * (a - bn.running_mean.numpy()[None, :, None, None]) / np.sqrt(
        bn.running_var.numpy()[None, :, None, None] + bn.eps) + beta[None, :, None, None]
    np.testing.assert_allclose(bn.eval()(x).detach().numpy(), ref_eval, atol=1e-10)


def slow_augment(x, pad, flip, seed):
    """Reference crop + flip: one image at a time in NumPy, with the same random draws."""
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = x.shape
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g).numpy()
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g).numpy()
    mirror = (torch.rand(n, generator=g) < 0.5).numpy() if flip else np.zeros(n, bool)
    out = np.empty(x.shape, dtype=np.float32)
    for i in range(n):
        padded = np.pad(x[i].numpy(), ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
        crop = padded[:, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop[:, :, ::-1] if mirror[i] else crop
    return out


@pytest.mark.parametrize("pad,flip", [(4, True), (2, False), (0, True)])
def test_augment_is_a_true_crop_and_flip(pad, flip):
    x = torch.rand(12, 3, 32, 32)
    if pad == 0:        # with pad 0 only the flip draws random numbers
        g = torch.Generator().manual_seed(3)
        mirror = torch.rand(12, generator=g) < 0.5
        ref = torch.where(mirror[:, None, None, None], x.flip(3), x).numpy()
    else:
        ref = slow_augment(x, pad, flip, seed=3)
    out = train.augment(x, pad=pad, flip=flip, generator=torch.Generator().manual_seed(3))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= x.min() and out.max() <= x.max()
    np.testing.assert_array_equal(out.numpy(), ref)


def test_augment_identity_and_bad_input():
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(train.augment(x, pad=0, flip=False), x)
    with pytest.raises(ValueError, match=r"expected x: \(N, C, H, W\) float in \[0, 1\], got shape \(3, 8, 8\)"):
        train.augment(torch.rand(3, 8, 8))


def test_fit_rejects_bad_inputs():
    x, y = tiny_problem(16)
    net = tiny_net()
    kw = dict(epochs=1, device=CPU, progress=False)
    with pytest.raises(ValueError, match=r"expected labels: integers in \[0, 1\], got range \[5, 6\]"):
        train.fit(net, (x, y + 5), **kw)
    with pytest.raises(ValueError, match=r"expected labels: integers in \[0, 1\], got range \[-1, 0\]"):
        train.fit(net, (x, y - 1), **kw)
    with pytest.raises(ValueError, match=r"expected labels: shape \(16,\), one per image, got shape \(15,\)"):
        train.fit(net, (x, y[:-1]), **kw)
    with pytest.raises(ValueError, match=r"got an empty batch \(N = 0\)"):
        train.fit(net, (x[:0], y[:0]), **kw)
    with pytest.raises(ValueError, match=r"expected images: \(N, C, H, W\) float in \[0, 1\], got shape \(16, 32, 32\)"):
        train.fit(net, (x[:, 0], y), **kw)
    with pytest.raises(TypeError, match="expected labels: integer class indices, got dtype torch.float32"):
        train.fit(net, (x, y.float()), **kw)
    with pytest.raises(ValueError, match="got NaN or inf values"):
        train.fit(net, (x * float("nan"), y), **kw)
    with pytest.raises(ValueError, match=r"got range \[\d+, 25\d\]: these look like 0-255 values"):
        train.fit(net, ((x * 255).round().to(torch.uint8), y), **kw)
    with pytest.raises(TypeError, match="expected data: an ImageData or an \\(images, labels\\) pair, got Tensor"):
        train.fit(net, x, **kw)
    with pytest.raises(ValueError, match="validation"):
        train.fit(net, (x, y), patience=2, **kw)
    with pytest.raises(ValueError, match="expected optimizer: one of 'sgd', 'adam', 'adamw', got 'rmsprop'"):
        train.fit(net, (x, y), optimizer="rmsprop", **kw)
    with pytest.raises(ValueError, match="expected schedule: one of 'onecycle', 'constant', got 'cosine'"):
        train.fit(net, (x, y), schedule="cosine", **kw)
    with pytest.raises(ValueError, match="expected epochs: an integer >= 1, got 0"):
        train.fit(net, (x, y), **{**kw, "epochs": 0})
    with pytest.raises(TypeError, match="expected batch_size: an integer >= 1, got '8'"):
        train.fit(net, (x, y), batch_size="8", **kw)


def test_loss_decreases_on_a_tiny_problem():
    x, y = tiny_problem(64)
    net = tiny_net()
    before = train.evaluate(net, (x, y))["loss"]
    hist = train.fit(net, (x, y), (x, y), epochs=4, batch_size=16, lr=0.05, device=CPU,
                     progress=False, augment_data=False)
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert train.evaluate(net, (x, y))["loss"] < 0.8 * before
    assert hist["val_acc"][-1] > 0.8
    assert len(hist["seconds"]) == 4 and all(v > 0 for v in hist["images_per_s"])


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    x, y = tiny_problem(32)
    net = tiny_net()
    calls = [0]

    def poison(model, xb, yb):           # a NaN batch in the 2nd epoch (steps 1-2 are epoch 1)
        calls[0] += 1
        return xb * float("nan") if calls[0] == 3 else xb

    with pytest.raises(train.TrainingError, match="epoch 2"):
        train.fit(net, (x, y), epochs=3, batch_size=16, device=CPU, progress=False,
                  checkpoint=tmp_path / "run.pt", step_hook=poison)
    kept, info = models.load_checkpoint(tmp_path / "run.pt")
    assert info["epoch"] == 1
    for a, b in zip(kept.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)             # the model holds the last good epoch, BN buffers too
    assert all(torch.isfinite(v).all() for v in net.state_dict().values() if v.is_floating_point())


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    x, y = tiny_problem(48)
    kw = dict(epochs=3, batch_size=16, lr=0.05, device=CPU, progress=False)
    ref = tiny_net(dropout=0.3)
    run = tiny_net(dropout=0.3)
    h_ref = train.fit(ref, (x, y), (x[:16], y[:16]), **kw)
    calls = [0]

    def stop(model, xb, yb):
        calls[0] += 1
        if calls[0] == 5:                      # during epoch 2
            raise KeyboardInterrupt
        return xb

    with pytest.raises(KeyboardInterrupt):
        train.fit(run, (x, y), (x[:16], y[:16]), checkpoint=tmp_path / "r.pt", step_hook=stop, **kw)
    h_run = train.fit(run, (x, y), (x[:16], y[:16]), checkpoint=tmp_path / "r.pt", resume=True, **kw)
    for a, b in zip(ref.state_dict().values(), run.state_dict().values()):
        assert torch.equal(a, b)
    assert h_ref["train_loss"] == h_run["train_loss"] and h_ref["val_acc"] == h_run["val_acc"]
    # resuming a finished run trains nothing more
    h_again = train.fit(run, (x, y), (x[:16], y[:16]), checkpoint=tmp_path / "r.pt", resume=True, **kw)
    assert h_again["train_loss"] == h_run["train_loss"]
    # a checkpoint written with other settings is not resumed from
    h_other = train.fit(tiny_net(), (x, y), checkpoint=tmp_path / "r.pt", resume=True,
                        **{**kw, "epochs": 1})
    assert len(h_other["train_loss"]) == 1


# ---------------------------------------------------------------- reuse paths of fit(resume=True)
RESUME_KW = dict(epochs=2, batch_size=16, lr=0.05, device=CPU, progress=False)


def finished_run(path, source="synthetic", seed=0, **kw):
    """A finished 2-epoch run on the bright/dark problem (``seed`` picks the images)."""
    x, y = tiny_problem(32, seed=seed)
    train.fit(tiny_net(), (x, y), checkpoint=path, resume=True,
              made_from=dict(dataset="cifar10", source=source), **{**RESUME_KW, **kw})
    return x, y


def test_resume_after_the_data_became_real_trains_again(tmp_path, capsys):
    """The laptop scenario: a stand-in run finished, then real images appeared in the folder."""
    path = tmp_path / "cifar_net_cpu_run.pt"
    finished_run(path, source="synthetic")
    capsys.readouterr()
    x, y = tiny_problem(32, seed=1)                      # other images: the "real" data
    net = tiny_net()
    hist = train.fit(net, (x, y), checkpoint=path, resume=True,
                     made_from=dict(dataset="cifar10", source="image-folder"), **RESUME_KW)
    out = capsys.readouterr().out
    assert "SYNTHETIC stand-in" in out and "real (image folder)" in out and "training again" in out
    assert "resumed" not in out
    assert len(hist["train_loss"]) == 2                   # every epoch trained, none skipped
    saved = torch.load(path, weights_only=True)
    assert saved["made_from"]["source"] == "image-folder"  # the old file was replaced
    # and the next identical call resumes the new run, finished
    train.fit(tiny_net(), (x, y), checkpoint=path, resume=True,
              made_from=dict(dataset="cifar10", source="image-folder"), **RESUME_KW)
    assert "that run had finished" in capsys.readouterr().out


def test_resume_on_other_images_of_the_same_source_trains_again(tmp_path, capsys):
    path = tmp_path / "run.pt"
    finished_run(path, source="image-folder", seed=0)
    capsys.readouterr()
    finished_run(path, source="image-folder", seed=1)
    out = capsys.readouterr().out
    assert "its data was" in out and "training again" in out and "resumed" not in out


@pytest.mark.parametrize("change", [dict(lr=0.2), dict(epochs=3), dict(label_smoothing=0.1)])
def test_resume_with_a_changed_recipe_trains_again(tmp_path, capsys, change):
    path = tmp_path / "run.pt"
    finished_run(path)
    capsys.readouterr()
    x, y = tiny_problem(32)
    hist = train.fit(tiny_net(), (x, y), checkpoint=path, resume=True,
                     made_from=dict(dataset="cifar10", source="synthetic"), **{**RESUME_KW, **change})
    out = capsys.readouterr().out
    assert "settings differs" in out and next(iter(change)) in out and "resumed" not in out
    assert len(hist["train_loss"]) == change.get("epochs", 2)


def test_resume_with_another_width_trains_again_without_a_load_error(tmp_path, capsys):
    path = tmp_path / "run.pt"
    x, y = finished_run(path)
    capsys.readouterr()
    torch.manual_seed(0)
    wider = models.cifar_net(width=4, num_classes=2)
    hist = train.fit(wider, (x, y), checkpoint=path, resume=True,
                     made_from=dict(dataset="cifar10", source="synthetic"), **RESUME_KW)
    assert "width" in capsys.readouterr().out and len(hist["train_loss"]) == 2


@pytest.mark.parametrize("damage", ["older format", "truncated"])
def test_resume_from_an_older_or_damaged_file_says_so_and_trains_again(tmp_path, capsys, damage):
    path = tmp_path / "run.pt"
    if damage == "older format":                         # what fit wrote before provenance
        torch.save({"state": tiny_net().state_dict(), "epoch": 2, "done": True}, path)
        expect = "older format"
    else:
        finished_run(path)
        path.write_bytes(path.read_bytes()[:200])
        expect = "unreadable"
    capsys.readouterr()
    x, y = tiny_problem(32)
    hist = train.fit(tiny_net(), (x, y), checkpoint=path, resume=True,
                     made_from=dict(dataset="cifar10", source="synthetic"), **RESUME_KW)
    out = capsys.readouterr().out
    assert expect in out and str(path.name) in out and "resumed" not in out
    assert len(hist["train_loss"]) == 2
    assert torch.load(path, weights_only=True)["done"]     # rebuilt, readable again


def test_early_stopping_restores_the_best_epoch():
    x, y = tiny_problem(64)
    xv, yv = tiny_problem(32, seed=1)
    net = tiny_net()
    hist = train.fit(net, (x, y), (xv, yv), epochs=6, batch_size=16, lr=0.05, device=CPU,
                     progress=False, patience=2, schedule="constant")
    best = int(np.argmax(hist["val_acc"]))
    assert hist["best_epoch"] == best + 1
    assert hist["stopped_epoch"] == len(hist["val_acc"]) <= 6
    assert hist["stopped_epoch"] == 6 or hist["stopped_epoch"] - hist["best_epoch"] == 2
    assert train.evaluate(net, (xv, yv))["acc"] == pytest.approx(hist["val_acc"][best])


def test_schedule_and_precision_helpers():
    f = [train.lr_factor(s, 50, "onecycle", warmup=0.2) for s in range(50)]
    assert max(f) == pytest.approx(1.0) and int(np.argmax(f)) == 9
    assert all(a <= b for a, b in zip(f[:10], f[1:10])) and all(a >= b for a, b in zip(f[9:], f[10:]))
    assert f[-1] == pytest.approx(1 / 40) and train.lr_factor(3, 50, "constant") == 1.0
    assert train.amp_dtype("cpu") is None and train.amp_dtype("cuda", amp=False) is None


def test_evaluate_and_predict_agree_with_functional():
    x, y = tiny_problem(20)
    net = tiny_net().eval()
    with torch.no_grad():
        logits = net(x)
    r = train.evaluate(net, (x, y), batch_size=7)
    assert r["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), abs=1e-5)
    assert r["acc"] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    torch.testing.assert_close(train.predict(net, x, batch_size=6), logits.softmax(1))
    with torch.no_grad():
        p_tta = (logits.softmax(1) + net(x.flip(3)).softmax(1)) / 2
    r_tta = train.evaluate(net, (x, y), tta=True)
    assert r_tta["loss"] == pytest.approx(F.nll_loss(p_tta.log(), y).item(), abs=1e-5)
    assert math.isfinite(r_tta["acc"])


def test_every_trainer_raises_the_same_error_when_its_loss_diverges():
    """train.fit, autoencoders.fit_autoencoder and linalg.train_linear_autoencoder all stop a
    run whose loss is no longer finite with runtime.TrainingError (a message saying what to do)."""
    import numpy as np

    from helpers import autoencoders, linalg, runtime

    torch.manual_seed(0)
    x, y = torch.rand(32, 3, 32, 32), torch.arange(32) % 10
    with pytest.raises(runtime.TrainingError, match="learning rate"):
        train.fit(models.cifar_net(width=2), (x, y), epochs=1, batch_size=16, lr=1e12,
                  device="cpu", progress=False)
    nan_loss = lambda model, x_in, x_target: (model(x_in) * float("nan")).mean()   # noqa: E731
    with pytest.raises(runtime.TrainingError, match="learning rate"):
        autoencoders.fit_autoencoder(autoencoders.FCAutoencoder(2), torch.rand(16, 1, 28, 28),
                                     epochs=1, batch_size=8, loss_fn=nan_loss, device="cpu")
    X = np.random.default_rng(0).normal(size=(50, 10))
    with pytest.raises(runtime.TrainingError, match="lower lr"):
        linalg.train_linear_autoencoder(X, 2, steps=200, lr=1e6, progress=False)
    assert train.TrainingError is runtime.TrainingError


def test_eval_train_measures_the_training_images_like_validation(tmp_path):
    x, y = tiny_problem(48)
    xv, yv = tiny_problem(32, seed=1)
    net = tiny_net(dropout=0.5)
    path = tmp_path / "run.pt"
    kw = dict(epochs=3, batch_size=16, lr=0.05, device=CPU, progress=False, eval_train=True,
              checkpoint=path, made_from=dict(dataset="cifar10", source="synthetic"))
    hist = train.fit(net, (x, y), (xv, yv), **kw)
    assert len(hist["train_eval_acc"]) == len(hist["train_eval_loss"]) == 3
    final = train.evaluate(net, (x, y))               # eval mode, no augmentation, no dropout
    assert hist["train_eval_acc"][-1] == pytest.approx(final["acc"])
    assert hist["train_eval_loss"][-1] == pytest.approx(final["loss"], rel=1e-5)
    again = train.fit(tiny_net(dropout=0.5), (x, y), (xv, yv), resume=True, **kw)
    assert again["train_eval_acc"] == hist["train_eval_acc"]          # reused with the history
    plain = train.fit(tiny_net(), (x, y), (xv, yv), epochs=1, batch_size=16, device=CPU,
                      progress=False)
    assert "train_eval_acc" not in plain                              # off by default


def test_eval_train_is_recorded_only_when_on(tmp_path, capsys):
    """A checkpoint written without eval_train is still resumed (the main run's record is unchanged)."""
    x, y = tiny_problem(32)
    path = tmp_path / "run.pt"
    kw = dict(epochs=1, batch_size=16, device=CPU, progress=False, checkpoint=path,
              made_from=dict(dataset="cifar10", source="synthetic"))
    train.fit(tiny_net(), (x, y), **kw)
    train.fit(tiny_net(), (x, y), resume=True, **kw)
    assert "resumed" in capsys.readouterr().out
    train.fit(tiny_net(), (x, y), (x, y), resume=True, eval_train=True, **kw)
    assert "resumed" not in capsys.readouterr().out                   # another setting: trained again


def test_early_stopping_on_the_validation_loss_restores_its_lowest_epoch(capsys):
    x, y = tiny_problem(64)
    xv, yv = tiny_problem(32, seed=1)
    net = tiny_net()
    hist = train.fit(net, (x, y), (xv, yv), epochs=4, batch_size=16, lr=0.05, device=CPU,
                     progress=False, restore_best=True, monitor="val_loss")
    best = int(np.argmin(hist["val_loss"]))
    assert hist["best_epoch"] == best + 1
    assert train.evaluate(net, (xv, yv))["loss"] == pytest.approx(hist["val_loss"][best], rel=1e-5)
    assert f"val_loss {hist['val_loss'][best]:.3f}" in capsys.readouterr().out
    with pytest.raises(ValueError, match="monitor"):
        train.fit(tiny_net(), (x, y), (xv, yv), epochs=1, device=CPU, progress=False, monitor="acc")
