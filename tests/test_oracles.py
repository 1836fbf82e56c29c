"""The lecture's attacks and attribution maps against independent libraries (micrograd-style
oracles), in the test suite only: torchattacks 3.5.1 (FGSM, PGD, APGD, APGD-T) and Captum 0.9 (Saliency,
GuidedBackprop, LayerGradCam). Both come from ``requirements-oracles.txt`` (``make test``
installs them); without them these tests are reported as SKIPPED.

Convention differences, stated once:

* torchattacks takes the gradient of the *mean* cross-entropy over the batch, ``helpers.attacks``
  of the per-image (summed) loss: a positive factor, the same signs, the same steps. Its PGD is
  compared with ``random_start=False`` on both sides (the random starts come from different
  generators) and one restart (``helpers.attacks.pgd`` keeps the best of several).
* Captum's ``Saliency`` returns ``|dS/dx|`` per colour channel; ``interpret.saliency`` takes the
  maximum over the channels (Simonyan et al.).
* Captum's ``GuidedBackprop`` needs ReLU *modules* that are not in place; the test network has them.
* Captum's ``LayerGradCam`` returns the map at the layer's resolution, unnormalized;
  ``interpret.grad_cam`` upsamples it bilinearly to the image and divides each map by its maximum.
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import attacks, interpret

torchattacks = pytest.importorskip("torchattacks", reason="torchattacks not installed "
                                   "(pip install --no-deps -r requirements-oracles.txt)")
captum_attr = pytest.importorskip("captum.attr", reason="captum not installed "
                                  "(pip install --no-deps -r requirements-oracles.txt)")


def small_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 16 * 16, 10)).eval()


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(6, 3, 32, 32, generator=g), torch.randint(0, 10, (6,), generator=g)


def test_fgsm_equals_torchattacks(batch):
    x, y = batch
    net = small_net()
    ours = attacks.fgsm(net, x, y, eps=8 / 255)
    theirs = torchattacks.FGSM(net, eps=8 / 255)(x, y)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert (ours - x).abs().max() <= 8 / 255 + 1e-6 and not torch.equal(ours, x)


@pytest.mark.parametrize("steps", [1, 5])
def test_pgd_linf_equals_torchattacks_without_random_start(batch, steps):
    x, y = batch
    net = small_net()
    eps, alpha = 8 / 255, 2 / 255
    ours = attacks.pgd(net, x, y, eps=eps, steps=steps, alpha=alpha, random_start=False)
    theirs = torchattacks.PGD(net, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    # float rounding of x + delta can differ by one ulp between the two; a sign flip of a
    # gradient entry that is ~0 would then move one pixel by alpha: allow a handful of pixels
    differ = (ours - theirs).abs() > 1e-5
    assert differ.float().mean() < 1e-3, f"{int(differ.sum())} of {differ.numel()} pixels differ"
    assert (ours - x).abs().max() <= eps + 1e-6


def _fooled_by_both(net, x, y, ours, theirs):
    with torch.no_grad():
        a, b = net(ours).argmax(1) != y, net(theirs).argmax(1) != y
    assert torch.equal(a, b), f"fooled: ours {a.tolist()}, torchattacks {b.tolist()}"
    return a


@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_equals_torchattacks(batch, loss):
    """Same random start (torchattacks seeds the global generator with 0, we pass a generator
    seeded with 0), labels = the clean answers (torchattacks attacks only images classified
    correctly): the same images are fooled, by the same adversarial images. For the images that
    resist, torchattacks returns the clean image, ``attacks.apgd`` its highest-loss point."""
    x, _ = batch
    net = small_net()
    with torch.no_grad():
        y = net(x).argmax(1)
    eps = 2 / 255
    ours = attacks.apgd(net, x, y, eps, steps=20, loss=loss, generator=torch.Generator().manual_seed(0))
    theirs = torchattacks.APGD(net, eps=eps, steps=20, loss=loss, seed=0)(x, y)
    fooled = _fooled_by_both(net, x, y, ours, theirs)
    assert fooled.any(), "the test needs images that the attack fools"
    assert torch.allclose(ours[fooled], theirs[fooled], atol=1e-5)
    assert (ours - x).abs().max() <= eps + 1e-6 and 0 <= ours.min() and ours.max() <= 1


def test_apgd_targeted_equals_torchattacks_apgdt(batch):
    """APGD-T towards the runner-up class (torchattacks' APGDT with n_classes=2 runs exactly
    that one target)."""
    x, _ = batch
    net = small_net()
    with torch.no_grad():
        y = net(x).argmax(1)
    eps = 2 / 255
    ours = attacks.apgd(net, x, y, eps, steps=20, loss="dlr", target_rank=2,
                        generator=torch.Generator().manual_seed(0))
    theirs = torchattacks.APGDT(net, eps=eps, steps=20, n_classes=2, seed=0)(x, y)
    fooled = _fooled_by_both(net, x, y, ours, theirs)
    assert fooled.any()
    assert torch.allclose(ours[fooled], theirs[fooled], atol=1e-5)


def test_saliency_equals_captum_max_over_channels(batch):
    x, y = batch
    net = small_net()
    ours = interpret.saliency(net, x, target=y)                                  # (N, H, W)
    theirs = captum_attr.Saliency(net).attribute(x.clone().requires_grad_(True), target=y, abs=True)
    assert torch.allclose(ours, theirs.amax(1), atol=1e-7)


def test_guided_backprop_equals_captum(batch):
    x, y = batch
    net = small_net()
    ours = interpret.guided_backprop(net, x, target=y)                           # (N, 3, H, W)
    theirs = captum_attr.GuidedBackprop(net).attribute(x.clone().requires_grad_(True), target=y)
    assert torch.allclose(ours, theirs, atol=1e-7)
    plain = interpret.input_gradient(net, x, target=y)
    assert not torch.allclose(ours, plain, atol=1e-7), "guided backprop must differ from the gradient"


def test_grad_cam_equals_captum_upsampled_and_normalized(batch):
    x, y = batch
    net = small_net()
    ours = interpret.grad_cam(net, x, "2", target=y)                             # (N, H, W) in [0, 1]
    cam = captum_attr.LayerGradCam(net, net[2]).attribute(x, target=y, relu_attributions=True)
    cam = captum_attr.LayerAttribution.interpolate(cam, x.shape[2:], interpolate_mode="bilinear")[:, 0]
    theirs = cam / cam.flatten(1).amax(1).clamp(min=1e-12).view(-1, 1, 1)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert ours.shape == (6, 32, 32) and torch.allclose(ours.flatten(1).amax(1), torch.ones(6))
