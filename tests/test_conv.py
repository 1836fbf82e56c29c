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
