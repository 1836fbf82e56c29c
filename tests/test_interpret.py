"""Unit tests of helpers.interpret against independent oracles (autograd, einsum, scipy)."""
import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import interpret as I
from helpers import synthesis as S
from helpers.models import cifar_net


def tiny_net(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential()
    net.add_module("conv1", nn.Conv2d(3, 8, 3, padding=1))
    net.add_module("relu1", nn.ReLU(inplace=True))
    net.add_module("conv2", nn.Conv2d(8, 6, 3, padding=1))
    net.add_module("relu2", nn.ReLU(inplace=True))
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flat", nn.Flatten())
    net.add_module("fc", nn.Linear(6, 5))
    return net.eval()


@pytest.fixture
def net():
    return tiny_net()


@pytest.fixture
def x():
    return torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def hook_count(model):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


# ----------------------------------------------------------------------------- hooks
def test_capture_records_and_removes_hooks(net, x):
    with I.capture(net, ["conv1", "conv2"]) as rec:
        net(x)
        assert hook_count(net) == 2
    assert hook_count(net) == 0
    assert rec["conv1"].shape == (2, 8, 12, 12) and rec["conv2"].shape == (2, 6, 12, 12)
    torch.testing.assert_close(rec["conv1"], net.conv1(x))


def test_hooks_removed_when_body_raises_and_never_stack(net, x):
    for _ in range(3):                       # re-running a failing cell
        with pytest.raises(RuntimeError, match="boom"):
            with I.capture(net, ["conv1", "conv2"], grads=True):
                net(x)
                raise RuntimeError("boom")
        assert hook_count(net) == 0
    for _ in range(3):                       # re-running a working cell
        I.grad_cam(net, x, "conv2")
        I.activations(net, x, "conv1")
        assert hook_count(net) == 0
    assert all(m.inplace for m in net.modules() if isinstance(m, nn.ReLU))


def test_forward_to_stops_early_and_matches_full_pass(net, x):
    calls = []
    handle = net.fc.register_forward_hook(lambda *a: calls.append(1))
    rec = I.forward_to(net, x, ["relu1", "conv2"])
    handle.remove()
    assert calls == [] and hook_count(net) == 0, "fc must not run; no hook may stay"
    torch.testing.assert_close(rec["conv2"], net.conv2(F.relu(net.conv1(x))))
    assert rec["conv2"].requires_grad


def test_capture_gradients_match_autograd(net, x):
    with I.capture(net, ["conv2"], grads=True) as rec:
        net(x)[:, 1].sum().backward()
    a = net.conv2(F.relu(net.conv1(x))).detach().requires_grad_(True)
    out = net.fc(net.flat(net.pool(F.relu(a))))
    (g,) = torch.autograd.grad(out[:, 1].sum(), a)
    torch.testing.assert_close(rec["grad:conv2"], g)


# ----------------------------------------------------------------------------- ReLU table
FORWARD = torch.tensor([[1., -1, 5], [2, -5, -7], [-3, 2, 4]])
UPSTREAM = torch.tensor([[-2., 3, -1], [6, -3, 1], [2, -1, 3]])
TABLE = {
    "backprop": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],
    "deconvnet": [[0, 3, 0], [6, 0, 1], [2, 0, 3]],
    "guided": [[0, 0, 0], [6, 0, 0], [0, 0, 3]],
}


@pytest.mark.parametrize("mode", I.MODES)
def test_relu_table_of_the_lecture(mode):
    expected = torch.tensor(TABLE[mode], dtype=torch.float32)
    assert torch.equal(I.relu_backward(FORWARD, UPSTREAM, mode), expected)
    inp = FORWARD.clone().requires_grad_(True)
    out = I.RuleReLU(mode)(inp)
    torch.testing.assert_close(out, F.relu(FORWARD))
    out.backward(UPSTREAM)
    assert torch.equal(inp.grad, expected)


def test_backprop_rule_is_autograd():
    inp = FORWARD.clone().requires_grad_(True)
    F.relu(inp).backward(UPSTREAM)
    assert torch.equal(I.relu_backward(FORWARD, UPSTREAM, "backprop"), inp.grad)


def test_swap_relus_restores_even_on_error(net, x):
    before = [id(m) for m in net.modules()]
    with pytest.raises(ValueError):
        with I.swap_relus(net, "guided"):
            assert not any(type(m) is nn.ReLU for m in net.modules())
            raise ValueError("inside")
    assert [id(m) for m in net.modules()] == before
    with pytest.raises(ValueError, match="guided"):
        I.swap_relus(net, "gided").__enter__()


def test_guided_backprop_differs_from_plain_and_plain_mode_matches(net, x):
    plain = I.input_gradient(net, x, target=2)
    torch.testing.assert_close(I.guided_backprop(net, x, target=2, mode="backprop"), plain)
    assert not torch.allclose(I.guided_backprop(net, x, target=2), plain)



# ----------------------------------------------------------------------------- ReLU6
def relu6_net(seed=0):
    """Like tiny_net, with ReLU6 activations (as EfficientNet-Lite) and pre-activations past 6."""
    torch.manual_seed(seed)
    net = nn.Sequential()
    net.add_module("conv1", nn.Conv2d(3, 8, 3, padding=1))
    net.add_module("act1", nn.ReLU6())
    net.add_module("conv2", nn.Conv2d(8, 6, 3, padding=1))
    net.add_module("act2", nn.ReLU6())
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flat", nn.Flatten())
    net.add_module("fc", nn.Linear(6, 5))
    with torch.no_grad():
        net.conv1.weight.mul_(20)                        # so that many units exceed 6
    return net.eval()


def test_relu6_rules_against_autograd_and_definition():
    gen = torch.Generator().manual_seed(0)
    x = 8 * torch.randn(500, generator=gen)              # spans < 0, (0, 6) and > 6
    g = torch.randn(500, generator=gen)
    inp = x.clone().requires_grad_(True)
    F.relu6(inp).backward(g)
    torch.testing.assert_close(I.relu_backward(x, g, "backprop", upper=6.0), inp.grad)
    active = (x > 0) & (x < 6)
    assert torch.equal(I.relu_backward(x, g, "guided", upper=6.0), g * active * (g > 0))
    assert torch.equal(I.relu_backward(x, g, "deconvnet", upper=6.0), g.clamp(min=0))
    for mode in I.MODES:
        inp = x.clone().requires_grad_(True)
        out = I.RuleReLU(mode, upper=6.0)(inp)
        assert torch.equal(out, F.relu6(x))
        out.backward(g)
        assert torch.equal(inp.grad, I.relu_backward(x, g, mode, upper=6.0))


def test_swap_relus_swaps_relu6_and_restores(x):
    net = relu6_net()
    before = [id(m) for m in net.modules()]
    with I.swap_relus(net, "guided"):
        rules = [net.act1, net.act2]
        assert all(isinstance(r, I.RuleReLU) and r.upper == 6.0 for r in rules)
        assert not any(isinstance(m, nn.ReLU6) for m in net.modules())
    assert [id(m) for m in net.modules()] == before
    assert (net.conv1(x) > 6).any(), "the test needs units in the flat part above 6"
    plain = I.input_gradient(net, x, target=1)
    torch.testing.assert_close(I.guided_backprop(net, x, target=1, mode="backprop"), plain)
    guided = I.guided_backprop(net, x, target=1)
    assert not torch.allclose(guided, plain)
    # guided backprop by hand: autograd with the guided rule at both activations
    xr = x.clone().requires_grad_(True)
    h = I.RuleReLU("guided", 6.0)(net.conv1(xr))
    out = net.fc(net.flat(net.pool(I.RuleReLU("guided", 6.0)(net.conv2(h)))))
    (expected,) = torch.autograd.grad(out[:, 1].sum(), xr)
    torch.testing.assert_close(guided, expected)


# ----------------------------------------------------------------------------- maps
def test_saliency_equals_autograd_gradient(net, x):
    xr = x.clone().requires_grad_(True)
    logits = net(xr)
    logits[torch.arange(2), torch.tensor([3, 0])].sum().backward()
    expected = xr.grad.abs().max(dim=1).values
    torch.testing.assert_close(I.saliency(net, x, target=torch.tensor([3, 0])), expected)
    pred = net(x).argmax(1)
    torch.testing.assert_close(I.saliency(net, x), I.saliency(net, x, target=pred))


def test_channel_saliency_and_smoothgrad_limit(net, x):
    xr = x.clone().requires_grad_(True)
    F.relu(net.conv1(xr))[:, 4].mean((1, 2)).sum().backward()
    torch.testing.assert_close(I.input_gradient(net, x, layer="relu1", channel=4), xr.grad)
    torch.testing.assert_close(I.smoothgrad(net, x, target=1, n=2, sigma=0.0),
                               I.saliency(net, x, target=1))


def test_grad_cam_matches_manual_formula(net, x):
    a = F.relu(net.conv1(x))
    a2 = net.conv2(a).detach().requires_grad_(True)
    out = net.fc(net.flat(net.pool(F.relu(a2))))
    (g,) = torch.autograd.grad(out[:, 2].sum(), a2)
    cam = F.relu(torch.einsum("nc,nchw->nhw", g.mean((2, 3)), a2.detach()))
    cam = cam / cam.flatten(1).max(1).values.view(-1, 1, 1)
    torch.testing.assert_close(I.grad_cam(net, x, "conv2", target=2), cam)


def test_gram_matrix_vs_einsum():
    f = torch.randn(2, 5, 4, 3, dtype=torch.float64)
    expected = torch.einsum("nchw,ndhw->ncd", f, f) / 12
    torch.testing.assert_close(I.gram_matrix(f), expected)
    assert torch.allclose(I.gram_matrix(f), I.gram_matrix(f).transpose(1, 2))


def test_gaussian_blur_vs_scipy():
    img = torch.rand(1, 2, 15, 17, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = S.gaussian_blur(img, 1.0)[0].numpy()
    ref = np.stack([scipy.ndimage.gaussian_filter(c, 1.0, mode="mirror", truncate=2.0)
                    for c in img[0].numpy()])
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_top_activating_and_embed(net, x):
    xs = torch.rand(7, 3, 12, 12, generator=torch.Generator().manual_seed(2))
    vals, idx, scores = I.top_activating(net, xs, "conv2", channel=3, k=3, batch_size=2)
    direct = net.conv2(F.relu(net.conv1(xs)))[:, 3].amax((1, 2)).detach()
    torch.testing.assert_close(scores, direct)
    assert idx.tolist() == direct.argsort(descending=True)[:3].tolist()
    emb = I.embed(net, xs, "conv2", batch_size=3)
    torch.testing.assert_close(emb, net.conv2(F.relu(net.conv1(xs))).mean((2, 3)).detach())


def test_visualize_and_dream_raise_their_objective():
    torch.manual_seed(0)
    model = cifar_net(width=4).eval()
    img, hist = S.visualize(model, target=3, size=32, steps=30, lr=0.05, l2=1e-3, blur_every=4,
                            clip_pixels=0.1, clip_contrib=0.1, progress=False)
    assert img.shape == (1, 3, 32, 32) and 0 <= img.min() and img.max() <= 1
    assert hist["score"][-1] > hist["score"][0] + 0.1, hist["score"]
    _, hist = S.visualize(model, layer="block1", channel=2, size=32, steps=15, jitter=2,
                          init="zeros", progress=False)
    assert hist["score"][-1] > hist["score"][0] + 0.05, hist["score"]
    with pytest.raises(ValueError, match="target class or a layer"):
        S.visualize(model)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    dream, curves = S.deep_dream(model, x, "block2", steps=5, octaves=2, jitter=2, progress=False)
    assert dream.shape == x.shape and len(curves) == 2
    assert all(c[-1] > c[0] for c in curves)


# ----------------------------------------------------------------------------- bad input
class AddInPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 3)

    def forward(self, x):
        out = self.bn(self.conv(x))
        out += 1.0
        return self.fc(out.mean((2, 3)))


def test_grad_cam_on_in_place_modified_layer_is_a_clear_error(x):
    model = AddInPlace().eval()
    with pytest.raises(ValueError, match="in place"):
        I.grad_cam(model, x, "bn")
    assert hook_count(model) == 0
    assert I.grad_cam(model, x, "conv").shape == (2, 12, 12)


def test_unknown_layer_lists_valid_choices(net, x):
    with pytest.raises(ValueError) as err:
        I.activations(net, x, "conv3")
    msg = str(err.value)
    assert "conv3" in msg and "conv1" in msg and "relu2" in msg and "fc" in msg
    assert hook_count(net) == 0


def test_channel_and_target_out_of_range(net, x):
    with pytest.raises(ValueError, match=r"\[0, 5\]"):
        I.saliency(net, x, layer="conv2", channel=6)
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        I.saliency(net, x, target=5)
    with pytest.raises(ValueError, match="channel"):
        I.top_activating(net, x, "conv1", channel=-1)
    assert hook_count(net) == 0


def test_wrong_image_shape_type_or_range(net, x):
    spec = r"expected x: \(N, 3, H, W\) float in \[0, 1\]"
    with pytest.raises(ValueError, match=spec + r", got shape \(3, \d+, \d+\): .*x\[None\]"):
        I.saliency(net, x[0])
    with pytest.raises(ValueError, match=spec + r", got shape \(\d+, 1, \d+, \d+\)"):
        I.saliency(net, x[:, :1])
    with pytest.raises(ValueError, match=spec + r", got range .*not normalized tensors"):
        I.saliency(net, (x - 0.5) / 0.25)
    with pytest.raises(TypeError, match=spec + ", got dtype torch.uint8: divide uint8"):
        I.saliency(net, (x * 255).to(torch.uint8))
    with pytest.raises(TypeError, match=spec + " tensor, got ndarray"):
        I.saliency(net, x.numpy())
