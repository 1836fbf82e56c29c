"""helpers.conv against independent oracles: scipy.signal, numpy, torch.nn.functional."""
import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from helpers import conv

X = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], float)
W = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], float)
LECTURE = np.array([[12, 12, 17], [10, 17, 19], [9, 6, 14]], float)
rng = np.random.default_rng(0)


def test_lecture_worked_example():
    assert np.array_equal(conv.correlate2d(X, W), LECTURE)
    assert np.array_equal(scipy.signal.correlate2d(X, W, mode="valid"), LECTURE)


def test_correlate1d_matches_numpy():
    x, w = rng.normal(size=50), rng.normal(size=7)
    np.testing.assert_allclose(conv.correlate1d(x, w), np.correlate(x, w, mode="valid"), atol=1e-12)
    np.testing.assert_allclose(conv.correlate1d(x, w, stride=3), np.correlate(x, w, mode="valid")[::3])


@pytest.mark.parametrize("padding,stride", [(0, 1), (1, 1), (2, 2), (1, 3)])
def test_correlate2d_matches_torch(padding, stride):
    x, w = rng.normal(size=(17, 13)), rng.normal(size=(3, 5))
    ref = F.conv2d(torch.tensor(x)[None, None], torch.tensor(w)[None, None],
                   padding=padding, stride=stride)[0, 0].numpy()
    np.testing.assert_allclose(conv.correlate2d(x, w, padding, stride), ref, atol=1e-10)


def test_convolution_flips_the_kernel():
    x, w = rng.normal(size=(9, 9)), rng.normal(size=(3, 3))
    np.testing.assert_allclose(conv.convolve2d(x, w), scipy.signal.convolve2d(x, w, mode="valid"), atol=1e-12)
    assert not np.allclose(conv.convolve2d(x, w), conv.correlate2d(x, w))


def test_correlate3d_matches_torch_multichannel():
    x, w = rng.normal(size=(10, 12, 3)), rng.normal(size=(3, 3, 3))
    ref = F.conv2d(torch.tensor(x).permute(2, 0, 1)[None], torch.tensor(w).permute(2, 0, 1)[None])[0, 0]
    np.testing.assert_allclose(conv.correlate3d(x, w), ref.numpy(), atol=1e-10)


def test_output_size_and_params_match_torch():
    for n, k, p, s in [(32, 5, 0, 1), (32, 3, 1, 1), (227, 11, 0, 4), (28, 5, 2, 2), (7, 3, 0, 2)]:
        layer = torch.nn.Conv2d(3, 8, k, stride=s, padding=p)
        assert conv.output_size(n, k, p, s) == layer(torch.zeros(1, 3, n, n)).shape[-1]
        assert conv.conv_params(k, 3, 8) == sum(q.numel() for q in layer.parameters())


def test_max_pool_matches_torch():
    x = rng.normal(size=(8, 6))
    ref = F.max_pool2d(torch.tensor(x)[None, None], 2)[0, 0].numpy()
    np.testing.assert_allclose(conv.max_pool2d(x), ref)


def test_kernels():
    assert np.isclose(conv.box_kernel(5).sum(), 1) and np.isclose(conv.gaussian_kernel(1.5).sum(), 1)
    g = conv.gaussian_kernel(2.0, ndim=1)
    assert len(g) == 13 and np.argmax(g) == 6
    e = conv.edge_kernel(0)
    assert abs(e.sum()) < 1e-12
    step = np.zeros((9, 9)); step[:, 5:] = 1              # dark left, bright right
    assert conv.correlate2d(step, e).max() > 0
    assert abs(conv.correlate2d(step, conv.edge_kernel(90)).max()) < 1e-9


def test_ncc_finds_template_and_is_bounded():
    img = rng.random((40, 40))
    t = img[10:17, 22:29].copy()
    ncc = conv.normalized_cross_correlation(img, t)
    assert np.unravel_index(ncc.argmax(), ncc.shape) == (10, 22)
    assert ncc.max() <= 1 + 1e-9 and ncc.min() >= -1 - 1e-9


@pytest.mark.parametrize("call,msg", [
    (lambda: conv.correlate2d(np.ones(5), np.ones((3, 3))), "2-D input"),
    (lambda: conv.correlate2d(np.ones((3, 3)), np.ones((5, 5))), "larger than the padded input"),
    (lambda: conv.correlate2d(np.ones((5, 5)), np.ones((3, 3)), stride=0), "stride"),
    (lambda: conv.correlate2d(np.ones((5, 5)), np.ones((3, 3)), stride=-1), "stride"),
    (lambda: conv.correlate2d(np.full((5, 5), np.nan), np.ones((3, 3))), "finite"),
    (lambda: conv.correlate3d(np.ones((5, 5, 3)), np.ones((3, 3, 2))), "channels"),
    (lambda: conv.gaussian_kernel(0), "sigma"),
])
def test_bad_input_is_explained(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 1), (3, 2)])
def test_pool2d_max_and_avg_match_torch(size, stride):
    x = rng.normal(size=(11, 9))
    t = torch.tensor(x)[None, None]
    np.testing.assert_allclose(conv.pool2d(x, size, stride), F.max_pool2d(t, size, stride)[0, 0].numpy())
    np.testing.assert_allclose(conv.pool2d(x, size, stride, "avg"), F.avg_pool2d(t, size, stride)[0, 0].numpy())
    with pytest.raises(ValueError, match="mode"):
        conv.pool2d(x, mode="median")


def _autograd_receptive_field(layers, size=80):
    mods = [torch.nn.Conv2d(1, 1, k, stride=s, bias=False) if k != s else torch.nn.AvgPool2d(k, s)
            for k, s in layers]
    for m in mods:
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.constant_(m.weight, 1.0)
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = torch.nn.Sequential(*mods)(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(0)).flatten()
    return int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("layers", [[(3, 1)] * 3, [(3, 1), (2, 2), (3, 1), (2, 2), (5, 1)], [(7, 1), (3, 2), (3, 1)]])
def test_receptive_field_matches_autograd(layers):
    rf = conv.receptive_field(layers)
    assert rf[-1] == _autograd_receptive_field(layers)
    assert conv.receptive_field([(3, 1)] * 3) == [3, 5, 7]


def test_separation_measures_and_can_fail():
    sep = conv.separation([3, 4, 5], [0, 1, 2])
    assert sep["auc"] == 1.0 and sep["overlap"] == 0 and sep["d"] == pytest.approx(3.0)
    mixed = conv.separation([1, 3, 5], [0, 2, 4])
    assert mixed["auc"] == pytest.approx(6 / 9) and mixed["overlap"] == 2
    assert conv.stage2_separates_better(mixed, sep)
    assert not conv.stage2_separates_better(sep, mixed)
    assert not conv.stage2_separates_better(sep, conv.separation([3, 4, 5.1], [0, 1, 2]))   # d up by < 1
    with pytest.raises(ValueError, match="at least 2"):
        conv.separation([1], [0, 1])


def test_scene_photos_names_and_missing(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="ImageNet sample classes"):
        conv.scene_photos(["not_a_class"])
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NB_OFFLINE", "1")
    assert conv.scene_photos(["church", "alp"]) is None           # absent and not fetchable: the claim is skipped


def test_scene_photo_groups_are_disjoint_sample_classes():
    from helpers import photos
    classes = {f.split("_", 1)[1].rsplit(".", 1)[0] for f in photos.imagenet_sample_files()}
    assert set(conv.BUILT_SCENES) <= classes and set(conv.NATURAL_SCENES) <= classes
    assert not set(conv.BUILT_SCENES) & set(conv.NATURAL_SCENES)
    assert len(conv.BUILT_SCENES) >= 6 and len(conv.NATURAL_SCENES) >= 6


def test_try_it_checker_accepts_the_answers_and_rejects_others(capsys):
    """Notebook 01's exercise checker (the notebook shows only the student's result)."""
    assert conv.check_try_it(1, 32) and not conv.check_try_it(1, 28)
    assert conv.check_try_it(2, 760) and not conv.check_try_it(2, 750)
    assert conv.check_try_it(3, np.sum(X[:3, :3] * W[::-1, ::-1])) and not conv.check_try_it(3, 12)
    assert conv.check_try_it(4, [[-1, -1, -1], [0, 0, 0], [1, 1, 1]])
    assert not conv.check_try_it(4, [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])        # a vertical-edge kernel
    assert not conv.check_try_it(4, [[1, 1, 1], [0, 0, 0], [-1, -1, -1]])        # bright above: the wrong sign
    assert not conv.check_try_it(4, np.ones((5, 5)))
    assert not conv.check_try_it(1, None)
    out = capsys.readouterr().out
    assert "not answered yet" in out and "correct" in out
    with pytest.raises(ValueError, match="one of"):
        conv.check_try_it(5, 1)


def test_ncc_matches_scikit_image_and_flat_windows_give_zero():
    from skimage.feature import match_template
    img = rng.random((50, 60))
    img[30:45, 5:25] = 0.7                                      # a flat region
    t = rng.random((9, 7))
    ncc = conv.normalized_cross_correlation(img, t)
    np.testing.assert_allclose(ncc, match_template(img, t), atol=1e-6)
    assert np.all(ncc[30:36, 5:18] == 0)                        # windows inside the flat region
    with pytest.raises(ValueError, match="at most the size"):
        conv.normalized_cross_correlation(np.ones((4, 4)), np.ones((5, 5)))


def test_new_helpers_explain_bad_input():
    with pytest.raises(ValueError, match="a result of conv.separation"):
        conv.stage2_separates_better({"d": 1.0}, {"d": 2.0, "auc": 1.0})
    with pytest.raises(ValueError, match="kernel"):
        conv.receptive_field([(0, 1)])


def test_scene_photos_on_disk_make_no_network_probe(tmp_path, monkeypatch):
    """Photos already in the data folder are read without asking the network (NB_OFFLINE unset)."""
    from PIL import Image

    from helpers import photos
    from helpers.plumbing import download

    by_name = {f.split("_", 1)[1].rsplit(".", 1)[0]: f for f in photos.imagenet_sample_files()}
    folder = tmp_path / "imagenet-sample"
    folder.mkdir()
    for n, shade in (("church", 40), ("alp", 200)):
        Image.new("RGB", (60, 40), (shade, shade, shade)).save(folder / by_name[n])
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NB_OFFLINE", raising=False)

    def no_probe(*args, **kwargs):
        raise AssertionError("network probed although the photos are on disk")

    monkeypatch.setattr(download, "host_reachable", no_probe)
    got = conv.scene_photos(["church", "alp"], height=20)
    assert set(got) == {"church", "alp"} and got["church"].shape == (20, 30)
    assert abs(got["church"].mean() - 40 / 255) < 0.01 and abs(got["alp"].mean() - 200 / 255) < 0.01
    (folder / by_name["alp"]).unlink()
    with pytest.raises(AssertionError, match="network probed"):   # the check can fail: a missing photo does probe
        conv.scene_photos(["church", "alp"], height=20)


def test_two_stage_verdict_reports_the_ranking_it_is_given():
    built, natural = ["tower", "church"], ["cliff", "sea"]
    stage1 = {"tower": 3.0, "church": 1.0, "cliff": 2.0, "sea": 0.5}       # the cliff outranks the church
    stage2 = {"tower": 3.0, "church": 2.0, "cliff": 1.0, "sea": 0.5}       # every building above every landscape
    text = conv.two_stage_verdict(stage1, stage2, built, natural)
    assert "top score is the tower (a building): unlike on the slide" in text
    assert "the cliff" in text and "outranks 1 building (church)" in text
    assert "3 of 4 (building, landscape) pairs" in text and "4 of 4 pairs" in text
    assert "100% above the highest landscape, the cliff" in text
    flipped = conv.two_stage_verdict({**stage1, "sea": 9.0}, stage2, built, natural)
    assert "the sea (a landscape): as on the slide" in flipped
