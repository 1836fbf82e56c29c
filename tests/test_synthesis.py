"""Unit tests of helpers.synthesis: Yosinski et al.'s regularizers and Olah et al.'s recipe
(Fourier parameterization with a 1/f spectrum, decorrelated colour, random transformations),
against independent computations (numpy FFTs, plain autograd)."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import interpret as I
from helpers import synthesis as S
from helpers.models import cifar_net


def small_model(seed=0):
    torch.manual_seed(seed)
    return cifar_net(width=4).eval()


def test_spectrum_scale_is_one_over_f():
    scale = S.spectrum_scale(16)
    assert scale.shape == (16, 9)
    f = np.sqrt(np.fft.fftfreq(16)[:, None] ** 2 + np.fft.rfftfreq(16)[None, :] ** 2)
    np.testing.assert_allclose(scale.numpy(), 1 / np.maximum(f, 1 / 16), rtol=1e-6)
    assert scale[0, 0] == 16 and scale[0, 1] == 16        # the constant term is capped at the lowest f


def test_fourier_image_matches_numpy_and_has_a_falling_spectrum():
    g = torch.Generator().manual_seed(0)
    spectrum = torch.randn(2, 3, 32, 17, 2, generator=g)
    img = S.fourier_image(spectrum, 32, decorrelate=False)
    assert img.shape == (2, 3, 32, 32) and 0 < img.min() and img.max() < 1
    z = spectrum[..., 0].numpy() + 1j * spectrum[..., 1].numpy()
    f = np.sqrt(np.fft.fftfreq(32)[:, None] ** 2 + np.fft.rfftfreq(32)[None, :] ** 2)
    t = np.fft.irfft2(z / np.maximum(f, 1 / 32), s=(32, 32), norm="ortho") / 4
    np.testing.assert_allclose(img.numpy(), 1 / (1 + np.exp(-t)), atol=1e-5)
    # white-noise coefficients give an image whose amplitude falls with frequency (1/f)
    amp = np.abs(np.fft.rfft2(t, norm="ortho")).mean((0, 1))
    low, high = amp[(f > 0) & (f < 0.1)].mean(), amp[f > 0.4].mean()
    assert low > 4 * high, (low, high)


def test_decorrelated_colour_is_the_lucid_matrix():
    m = S.COLOR_MATRIX
    assert m.norm(dim=0).max() == pytest.approx(1.0)
    spectrum = torch.zeros(1, 3, 8, 5, 2)
    spectrum[0, 0, 0, 0, 0] = 1.0                         # only the first colour channel's constant term
    img = S.fourier_image(spectrum, 8, decorrelate=True)
    logit = torch.log(img / (1 - img))[0, :, 0, 0]        # undo the sigmoid: the RGB mix
    torch.testing.assert_close(logit / logit.norm(), m[:, 0] / m[:, 0].norm(), atol=1e-5, rtol=0)


def test_random_transform_is_deterministic_and_pads_with_grey():
    x = torch.rand(2, 3, 20, 20, generator=torch.Generator().manual_seed(1))
    a = S.random_transform(x, torch.Generator().manual_seed(5))
    b = S.random_transform(x, torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
    assert 40 <= a.shape[-1] <= 49                        # (20 + 2 * 12) scaled by 0.9 ... 1.1
    same = S.random_transform(x, torch.Generator().manual_seed(5), pad=0, jitter=0, scales=(1.0,),
                              angles=(0,), jitter2=0)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)   # identity when every transform is off


def test_render_raises_units_and_logits():
    model = small_model()
    targets = [("block1", 2), 3]
    imgs, hist = S.render(model, targets, size=32, steps=25, progress=False)
    assert imgs.shape == (2, 3, 32, 32) and 0 <= imgs.min() and imgs.max() <= 1
    assert hist.shape == (25, 2)
    assert (hist[-5:].mean(0) > hist[:5].mean(0)).all(), hist
    with torch.no_grad():
        direct = [I.activations(model, imgs[:1], "block1")[0, 2].mean(), model(imgs[1:])[0, 3]]
    torch.testing.assert_close(S.scores(model, imgs, targets), torch.stack(direct))
    naive, _ = S.render(model, targets, size=32, steps=3, fourier=False, decorrelate=False,
                        transforms=False, progress=False)
    assert naive.shape == imgs.shape


def test_clip_contrib_greys_the_least_contributing_pixels():
    model = small_model()
    img, _ = S.visualize(model, target=1, size=32, steps=6, clip_contrib=0.5, progress=False)
    grey = ((img - 0.5).abs().amax(1) < 1e-6).float().mean()
    assert grey >= 0.5                                    # at least the clipped half is exactly grey
    plain, _ = S.visualize(model, target=1, size=32, steps=6, progress=False)
    assert ((plain - 0.5).abs().amax(1) < 1e-6).float().mean() < 0.1


def test_layers_by_stride_finds_the_deepest_block_at_each_scale():
    net = nn.Sequential()
    net.add_module("body", nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                                         nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                                         nn.AdaptiveAvgPool2d(1)))
    ladder = I.layers_by_stride(net, "body.1", size=32)
    assert ladder == {1: "body.0", 2: "body.2", 4: "body.3"}
