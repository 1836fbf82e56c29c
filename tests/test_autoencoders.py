"""Unit tests of helpers.autoencoders against independent oracles (torch.nn.functional,
NumPy, autograd, a closed-form KL) with tolerances. Fast: tiny inputs, CPU only."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import autoencoders as AE


@pytest.fixture(autouse=True)
def _tmp_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NB_PROFILE", "smoke")
    torch.manual_seed(0)


def images(n=6, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("make", [lambda k: AE.FCAutoencoder(k, hidden=32),
                                  lambda k: AE.ConvAutoencoder(k, width=4),
                                  lambda k: AE.VAE(k, hidden=32)])
@pytest.mark.parametrize("k", [1, 2, 7])
def test_shapes_and_output_range(make, k):
    m = make(k).eval()
    x = images()
    with torch.no_grad():
        z, out, far = m.encode(x), m(x), m.decode(1e3 * torch.randn(4, k))
    out = out[0] if isinstance(out, tuple) else out
    assert z.shape == (6, k)
    assert out.shape == (6, 1, 28, 28)
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    # decoding extreme codes still gives valid pixels (sigmoid output)
    assert 0 <= float(far.min()) and float(far.max()) <= 1


def test_conv_encoder_matches_functional_oracle():
    m = AE.ConvAutoencoder(3, width=2)
    x = images(2)
    c1, c2, lin = m.encoder[0], m.encoder[2], m.encoder[5]
    h = F.relu(F.conv2d(x, c1.weight, c1.bias, stride=2, padding=1))       # (2, 2, 14, 14)
    h = F.relu(F.conv2d(h, c2.weight, c2.bias, stride=2, padding=1))       # (2, 4, 7, 7)
    z = h.flatten(1) @ lin.weight.T + lin.bias
    assert h.shape == (2, 4, 7, 7)
    torch.testing.assert_close(m.encode(x), z, atol=1e-5, rtol=1e-5)


def test_fc_parameter_count_by_hand():
    k, hid = 5, 16
    m = AE.FCAutoencoder(k, hidden=hid)
    encoder = (784 * hid + hid) + (hid * k + k)          # weights + biases
    decoder = (k * hid + hid) + (hid * 784 + 784)
    expected = encoder + decoder
    assert sum(p.numel() for p in m.parameters()) == expected


def test_kl_matches_closed_form_and_is_nonnegative():
    mu, logvar = torch.randn(50, 4), torch.randn(50, 4)
    got = AE.kl_to_standard_normal(mu, logvar)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(got, torch.distributions.kl_divergence(q, p).sum(1), atol=1e-5, rtol=1e-5)
    assert (got >= 0).all()
    assert float(AE.kl_to_standard_normal(torch.zeros(1, 3), torch.zeros(1, 3))) == 0.0


def test_reparameterize_statistics_and_gradient():
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = AE.reparameterize(mu.expand(20000, 2), logvar.expand(20000, 2))
    np.testing.assert_allclose(z.mean(0).detach().numpy(), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(0).detach().numpy(), [1.0, 2.0], atol=0.05)
    z.mean().backward()                       # d mean(z) / d mu = 1/2 per coordinate
    np.testing.assert_allclose(mu.grad.numpy(), [0.5, 0.5], atol=1e-6)


def test_reconstruction_mse_matches_numpy():
    m = AE.FCAutoencoder(3, hidden=8)
    x = images(10)
    with torch.no_grad():
        out = m(x).numpy()
    expected = ((out - x.numpy()) ** 2).reshape(10, -1).mean(1)
    np.testing.assert_allclose(AE.reconstruction_mse(m, x, batch_size=3, per_image=True).numpy(),
                               expected, rtol=1e-5)
    assert math.isclose(AE.reconstruction_mse(m, x, batch_size=4), float(expected.mean()), rel_tol=1e-5)
    z = AE.encode_all(m, x, batch_size=3)
    torch.testing.assert_close(AE.decode_all(m, z, batch_size=7), torch.from_numpy(out), atol=1e-6, rtol=0)


def test_fit_reduces_loss_and_uses_corrupt_and_parts():
    x = images(64).mul(0.2).add(torch.linspace(0, 0.8, 28)[None, None, None])   # learnable structure
    m = AE.FCAutoencoder(4, hidden=32)
    seen = []

    def corrupt(xb):
        seen.append(xb.shape)
        return xb

    def loss_fn(model, xin, xt):
        loss = F.mse_loss(model(xin), xt)
        return loss, {"half": loss / 2}

    hist = AE.fit_autoencoder(m, x, epochs=15, batch_size=16, lr=3e-3, corrupt=corrupt,
                              loss_fn=loss_fn, x_val=x[:8], device="cpu")
    assert len(hist["loss"]) == 15 and len(hist["val_mse"]) == 15 and len(hist["half"]) == 15
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    np.testing.assert_allclose(hist["half"], np.array(hist["loss"]) / 2, rtol=1e-5)
    assert len(seen) == 15 * 4


def test_vae_trains_with_default_loss_and_eval_is_deterministic():
    m = AE.VAE(2, hidden=16)
    hist = AE.fit_autoencoder(m, images(32), epochs=2, batch_size=16, device="cpu")
    assert len(hist["loss"]) == 2 and all(math.isfinite(v) for v in hist["loss"])
    m.eval()
    x = images(4)
    with torch.no_grad():
        a, b = m(x)[0], m(x)[0]
    torch.testing.assert_close(a, b)                       # eval mode decodes the mean code
    torch.testing.assert_close(AE.encode_all(m, x), m.encode_stats(x)[0])


@pytest.mark.parametrize("k, err", [(0, ValueError), (-1, ValueError), (2.5, ValueError),
                                    (True, TypeError), ("8", TypeError), (None, TypeError)])
def test_bad_k(k, err):
    with pytest.raises(err, match=r"expected k \(bottleneck size\): an integer >= 1, got"):
        AE.ConvAutoencoder(k)


@pytest.mark.parametrize("bad, err, msg", [
    (torch.rand(2, 3, 28, 28), ValueError, r"\(N, 1, 28, 28\) float in \[0, 1\], got shape \(2, 3, 28, 28\)"),
    (torch.rand(1, 28, 28), ValueError, r"got shape \(1, 28, 28\): one image needs a batch axis"),
    (torch.rand(2, 1, 28, 28) * 255, ValueError, r"float in \[0, 1\], got range \[0\.\d+, 25\d\]: these look like 0-255 values"),
    (torch.rand(2, 1, 28, 28) - 0.5, ValueError, r"float in \[0, 1\], got range \[-0"),
    ((torch.rand(2, 1, 28, 28) * 255).to(torch.uint8), TypeError, "got dtype torch.uint8: divide"),
    (np.zeros((2, 1, 28, 28), np.float32), TypeError, r"float in \[0, 1\] tensor, got ndarray"),
    (torch.full((2, 1, 28, 28), float("nan")), ValueError, "got NaN or inf"),
    (torch.rand(0, 1, 28, 28), ValueError, r"got an empty batch \(N = 0\)"),
])
def test_bad_images(bad, err, msg):
    m = AE.ConvAutoencoder(2, width=2)
    with pytest.raises(err, match=msg):
        m.encode(bad)
    with pytest.raises(err, match=msg):
        AE.fit_autoencoder(m, bad, epochs=1, device="cpu")


def test_forward_checks_shape():
    with pytest.raises(ValueError, match="shape"):
        AE.ConvAutoencoder(2, width=2)(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="shape"):
        AE.VAE(2, hidden=4)(torch.rand(2, 784))


def test_bad_codes():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        AE.FCAutoencoder(3, hidden=4).decode(torch.zeros(2, 4))


def test_checkpoint_round_trip_and_cache(tmp_path):
    assert AE.cached_autoencoder() is None
    m = AE.ConvAutoencoder(32, width=4)
    path = AE.save_autoencoder(m, made_from=AE.fashion_record("synthetic", 10), test_mse=0.0123)
    assert path.name == "fashion_conv_ae_k32_smoke.pt" and path.parent.name == "checkpoints"
    assert not list(path.parent.glob("*.tmp"))
    loaded = AE.cached_autoencoder()
    assert loaded is not None and not loaded.training
    assert loaded.checkpoint_info["test_mse"] == 0.0123
    assert loaded.config == m.config
    x = images(3)
    torch.testing.assert_close(loaded.encode(x), m.eval().encode(x))
    assert AE.cached_autoencoder(profile="gpu") is None
    # every kind rebuilds from its config
    for model in (AE.FCAutoencoder(3, hidden=8), AE.VAE(2, hidden=8)):
        p = AE.save_autoencoder(model, tmp_path / f"{model.config['kind']}.pt")
        back, info = AE.load_autoencoder(p)
        assert type(back) is type(model) and info["config"] == model.config


def test_cached_autoencoder_is_reused_only_on_the_data_it_was_trained_on(capsys):
    """Notebook 07 must not encode real Fashion-MNIST with an autoencoder of the stand-in."""
    m = AE.ConvAutoencoder(32, width=4)
    path = AE.save_autoencoder(m, made_from=AE.fashion_record("synthetic", 10))
    assert AE.cached_autoencoder(source="synthetic") is not None   # what the data folder has now
    capsys.readouterr()
    assert AE.cached_autoencoder(source="torchvision") is None
    out = capsys.readouterr().out
    assert "SYNTHETIC stand-in" in out and "not reused" in out and path.name in out
    # a file without a record (written before provenance) is not reused either
    AE.save_autoencoder(m)
    assert AE.cached_autoencoder(source="synthetic") is None
    assert "records no 'dataset'" in capsys.readouterr().out


def test_truncated_autoencoder_checkpoint_is_reported_not_loaded(capsys):
    path = AE.save_autoencoder(AE.ConvAutoencoder(32, width=4),
                               made_from=AE.fashion_record("synthetic", 10))
    path.write_bytes(path.read_bytes()[:300])
    assert AE.cached_autoencoder(source="synthetic") is None
    assert "unreadable" in capsys.readouterr().out
    with pytest.raises(ValueError, match="run notebook 05"):
        AE.load_autoencoder(path)


def test_save_rejects_other_models():
    with pytest.raises(TypeError, match="autoencoder"):
        AE.save_autoencoder(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="kind"):
        AE.build({"kind": "gan", "k": 2})


# --------------------------------------------------------------------------- added for notebook 05 on the full data
def test_fit_or_reuse_trains_once_then_reuses_and_retrains_when_the_recipe_changes(tmp_path, capsys):
    x = images(64)
    record = AE.fashion_record("synthetic", len(x))
    torch.manual_seed(0)
    a = AE.FCAutoencoder(3, hidden=8)
    h1 = AE.fit_or_reuse(a, x, tmp_path / "m.pt", record, epochs=2, batch_size=16, device="cpu")
    assert h1["reused"] is False and len(h1["loss"]) == 2
    torch.manual_seed(0)
    b = AE.FCAutoencoder(3, hidden=8)                      # the same initial weights
    h2 = AE.fit_or_reuse(b, x, tmp_path / "m.pt", record, epochs=2, batch_size=16, device="cpu")
    assert h2["reused"] is True and h2["loss"] == h1["loss"] and "reused m.pt" in capsys.readouterr().out
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    torch.manual_seed(0)
    c = AE.FCAutoencoder(3, hidden=8)
    h3 = AE.fit_or_reuse(c, x, tmp_path / "m.pt", record, epochs=3, batch_size=16, device="cpu")
    assert h3["reused"] is False and "epochs" in capsys.readouterr().out     # says what differs
    torch.manual_seed(1)                                    # other initial weights: not reused either
    d = AE.FCAutoencoder(3, hidden=8)
    assert AE.fit_or_reuse(d, x, tmp_path / "m.pt", record, epochs=3, batch_size=16, device="cpu")["reused"] is False
    h5 = AE.fit_or_reuse(AE.FCAutoencoder(3, hidden=8), images(64, seed=1), tmp_path / "m.pt", record,
                         epochs=3, batch_size=16, device="cpu")    # other images
    assert h5["reused"] is False


def test_fit_or_reuse_keys_corruption_by_name(tmp_path):
    x, record = images(32), AE.fashion_record("synthetic", 32)

    def noise(xb):
        return xb + 0.1 * torch.randn_like(xb)

    def holes(xb):
        return xb * 0

    for corrupt, reused in [(noise, False), (noise, True), (holes, False)]:
        torch.manual_seed(0)
        m = AE.FCAutoencoder(2, hidden=8)
        h = AE.fit_or_reuse(m, x, tmp_path / "c.pt", record, epochs=1, batch_size=16, corrupt=corrupt, device="cpu")
        assert h["reused"] is reused


def test_fit_classifier_learns_separable_labels(tmp_path):
    x = torch.zeros(200, 1, 28, 28)
    y = torch.arange(200) % 2
    x[y == 1, :, :14] = 1.0                                 # class 1: top half white
    torch.manual_seed(0)
    clf = AE.FashionClassifier()
    h = AE.fit_or_reuse(clf, x, tmp_path / "j.pt", {"data": "toy"}, trainer=AE.fit_classifier, y=y,
                        epochs=3, batch_size=20, lr=3e-3, device="cpu")
    assert h["loss"][-1] < h["loss"][0]
    probs = AE.class_probabilities(clf, x)
    assert probs.shape == (200, 10) and torch.allclose(probs.sum(1), torch.ones(200), atol=1e-5)
    assert float((probs.argmax(1) == y).float().mean()) == 1.0
    with pytest.raises(ValueError, match="labels"):
        AE.fit_classifier(AE.FashionClassifier(), x, y[:5], device="cpu")


def test_sample_scores_against_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 10)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    s = AE.sample_scores(torch.from_numpy(p))
    py = p.mean(0)
    inception = np.exp(np.mean(np.sum(p * (np.log(p) - np.log(py)), axis=1)))
    freq = np.bincount(p.argmax(1), minlength=10) / 50
    classes = np.exp(-np.sum(freq[freq > 0] * np.log(freq[freq > 0])))
    assert s["confidence"] == pytest.approx(p.max(1).mean())
    assert s["inception"] == pytest.approx(inception, rel=1e-9)
    assert s["classes"] == pytest.approx(classes, rel=1e-9)
    one_hot = torch.eye(10)[torch.arange(100) % 10]         # confident, every class equally often
    assert AE.sample_scores(one_hot)["classes"] == pytest.approx(10) and AE.sample_scores(one_hot)["inception"] == pytest.approx(10, rel=1e-6)
    same = torch.eye(10)[torch.zeros(100, dtype=torch.long)]
    assert AE.sample_scores(same)["classes"] == pytest.approx(1) and AE.sample_scores(same)["inception"] == pytest.approx(1, rel=1e-6)
    assert AE.sample_scores(torch.full((5, 10), 0.1))["confidence"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="probs"):
        AE.sample_scores(torch.ones(10))


def test_active_dimensions_and_bernoulli_floor():
    mu = torch.zeros(100, 4)
    mu[:, 0] = torch.linspace(-2, 2, 100)                   # varies with the image: active
    mu[:, 1] = 0.01 * torch.linspace(-1, 1, 100)            # variance ~3e-5: collapsed
    assert AE.active_dimensions(mu).tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="mu"):
        AE.active_dimensions(torch.zeros(1, 4))
    x = images(3)
    from scipy.special import entr
    expected = (entr(x.double().numpy()) + entr(1 - x.double().numpy())).reshape(3, -1).sum(1)
    np.testing.assert_allclose(AE.bernoulli_floor(x).numpy(), expected, rtol=1e-5)
    assert float(AE.bernoulli_floor((x > 0.5).float()).abs().max()) == 0.0      # black and white: no floor
    # the floor is a floor: no reconstruction has a lower binary cross-entropy
    for recon in (x, x.clamp(0.1, 0.9), torch.full_like(x, 0.5)):
        bce = F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), x, reduction="none").flatten(1).sum(1)
        assert (bce >= AE.bernoulli_floor(x) - 1e-2).all()


def test_jpeg_roundtrip_counts_payload_and_header():
    x = images(4)
    smooth = torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2)
    dec, payload, files = AE.jpeg_roundtrip(smooth, 95)
    assert dec.shape == smooth.shape and float((dec - smooth).abs().max()) < 0.1
    assert (payload > 0).all() and (files > payload + 100).all()
    header = files - payload
    assert len(set(header.tolist())) == 1                   # one header for every image at a quality
    _, small, _ = AE.jpeg_roundtrip(smooth, 5)
    assert (small < payload).all()


def test_quantize_codes_levels_and_error():
    z = torch.randn(500, 3)
    lo, hi = z.min(0).values, z.max(0).values
    q = AE.quantize_codes(z, lo, hi, bits=8)
    assert all(len(torch.unique(q[:, j])) <= 256 for j in range(3))
    assert float(((q - z).abs() / ((hi - lo) / 255)).max()) <= 0.5 + 1e-4
    assert len(torch.unique(AE.quantize_codes(z, lo, hi, bits=1)[:, 0])) == 2


def test_reconstruct_accepts_noisy_inputs_only_when_asked():
    m = AE.ConvAutoencoder(2, width=4)
    noisy = images(2) + 0.5
    with pytest.raises(ValueError):
        AE.reconstruct(m, noisy)
    out = AE.reconstruct(m, noisy, check_range=False)
    assert out.shape == noisy.shape and 0 <= out.min() and out.max() <= 1


def test_show_rows_one_label_per_row():
    import matplotlib.pyplot as plt
    fig = AE.show_rows({"a": images(3), "b": images(3, 1)}, col_titles=["x", "y", "z"], suptitle="t")
    assert [ax.get_ylabel() for ax in fig.axes[::3]] == ["a", "b"]
    plt.close(fig)
    with pytest.raises(ValueError, match="length"):
        AE.show_rows({"a": images(3), "b": images(2)})


def test_frechet_distance_zero_for_equal_sets_and_closed_form_for_shifts():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 4, generator=g, dtype=torch.float64)
    a = a - a.mean(0)
    assert AE.frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    assert AE.frechet_distance(a, a + 2.0) == pytest.approx(4 * 4.0, rel=1e-8)     # only the means move
    # scaled copy: FD = tr(S) (1 - c)^2 for b = c a, the blur-like loss of variety is punished
    s = torch.cov(a.T).trace().item()
    assert AE.frechet_distance(a, 0.3 * a) == pytest.approx(s * 0.7 ** 2, rel=1e-6)
    with pytest.raises(ValueError, match="same D"):
        AE.frechet_distance(a, a[:, :3])


def test_knn_precision_recall_punishes_collapse_and_noise():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(400, 2, generator=g, dtype=torch.float64)
    same = torch.randn(400, 2, generator=g, dtype=torch.float64)
    p, r = AE.knn_precision_recall(real, same)
    assert p > 0.8 and r > 0.8
    collapsed = real[0] + 1e-4 * torch.randn(400, 2, generator=g, dtype=torch.float64)   # every sample one image
    p, r = AE.knn_precision_recall(real, collapsed)
    assert p > 0.9 and r < 0.2
    far = real + 50
    assert AE.knn_precision_recall(real, far) == (0.0, 0.0)
    with pytest.raises(ValueError, match="more than k"):
        AE.knn_precision_recall(real[:3], same)


def test_density_coverage_ignores_scattered_outliers():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(400, 2, generator=g, dtype=torch.float64)
    same = torch.randn(400, 2, generator=g, dtype=torch.float64)
    d, c = AE.density_coverage(real, same)
    assert 0.7 < d < 1.3 and c > 0.8
    collapsed = real[0] + 1e-4 * torch.randn(400, 2, generator=g, dtype=torch.float64)
    d, c = AE.density_coverage(real, collapsed)
    assert c < 0.05
    scattered = 30 * torch.randn(400, 2, generator=g, dtype=torch.float64)   # recall rewards these, coverage does not
    assert AE.knn_precision_recall(real, scattered)[1] > 0.5
    d, c = AE.density_coverage(real, scattered)
    assert c < 0.2 and d < 0.1
    assert AE.density_coverage(real, real + 50) == (0.0, 0.0)
    with pytest.raises(ValueError, match="more than k"):
        AE.density_coverage(real[:5], same)


def test_judge_features_is_the_body_before_the_last_layer():
    torch.manual_seed(0)
    judge = AE.FashionClassifier().eval()
    x = torch.rand(5, 1, 28, 28)
    f = AE.judge_features(judge, x)
    assert f.shape == (5, 32 * 7 * 7) and f.dtype == torch.float64
    assert torch.allclose(judge.net[-1](f.float()), judge(x), atol=1e-5)


def test_covered_real_is_coverage_per_point():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(60, 5, generator=g), torch.randn(40, 5, generator=g) + 0.5
    per_point = AE.covered_real(real, fake, k=5)
    assert per_point.shape == (60,) and per_point.dtype == torch.bool
    assert float(per_point.double().mean()) == pytest.approx(AE.density_coverage(real, fake, k=5)[1])
    far = AE.covered_real(real, fake + 100.0, k=5)                # samples far from every real point cover nothing
    assert not far.any()
    with pytest.raises(ValueError):
        AE.covered_real(real[:5], fake, k=5)


def test_paired_verdict_ties_within_two_standard_errors():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(400, generator=g)
    noise = 0.01 * torch.randn(400, generator=g)
    clear = AE.paired_verdict(base, base - 0.05 + noise)             # the method is lower: it wins (lower is better)
    assert clear["winner"] == "AE" and clear["diff"] == pytest.approx(float((-0.05 + noise).mean()))
    assert clear["se"] == pytest.approx(float(noise.std() / 20), rel=1e-6)
    assert AE.paired_verdict(base, base - 0.05 + noise, lower_is_better=False)["winner"] == "PCA"
    assert AE.paired_verdict(base, base + noise)["winner"] == "tie"  # mean difference ~ 0: within t SE
    assert AE.paired_verdict(base, base + 0.05 + noise, names=("lin", "net"))["winner"] == "lin"
    out = AE.paired_verdict(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.5]))
    assert out["control"] == pytest.approx(2.0) and out["method"] == pytest.approx(6.5 / 3)
    with pytest.raises(ValueError):
        AE.paired_verdict(base, base[:10])


def test_paired_verdict_uses_student_t_for_few_draws():
    # 5 draws, mean difference 2.5 SE: beyond 2 SE but inside t_4 = 2.78 SE -> a tie; at 3 SE a win
    d = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    se = d.std(ddof=1) / math.sqrt(5)
    base = np.zeros(5)
    out = AE.paired_verdict(base, d + 2.5 * se, lower_is_better=False)
    assert out["t"] == pytest.approx(2.776, abs=1e-3) and out["winner"] == "tie"
    assert AE.paired_verdict(base, d + 3.0 * se, lower_is_better=False)["winner"] == "AE"


def test_feature_reference_matches_the_one_shot_metrics():
    g = torch.Generator().manual_seed(1)
    real, fake, other = torch.randn(60, 4, generator=g), torch.randn(50, 4, generator=g) + 0.3, torch.randn(40, 4, generator=g) * 2
    ref = AE.FeatureReference(real)
    for f in (fake, other):                                          # the cached statistics serve several sets
        assert ref.frechet(f) == pytest.approx(AE.frechet_distance(real, f), rel=1e-9)
        assert ref.precision_recall(f, 3) == AE.knn_precision_recall(real, f, k=3)
        assert ref.density_coverage(f, 5) == AE.density_coverage(real, f, k=5)
        assert torch.equal(ref.covered(f, 5), AE.covered_real(real, f, k=5))
    with pytest.raises(ValueError, match="reference feature set"):
        AE.FeatureReference(torch.zeros(5))
    with pytest.raises(ValueError, match="sample features"):
        ref.frechet(torch.zeros(5, 3))

