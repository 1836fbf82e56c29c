"""helpers.data / standins / photos / pretrained: real-first loading, honest stand-ins."""
import time

import pytest
import torch

from helpers import data, photos, pretrained
from helpers.plumbing import download, standins


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NB_STRICT", raising=False)
    return tmp_path


def test_standins_have_real_shapes_and_are_deterministic():
    x, y = standins.synthetic_cifar10(200, seed=1)
    assert x.shape == (200, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert set(y.tolist()) == set(range(10))
    x2, y2 = standins.synthetic_cifar10(200, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, standins.synthetic_cifar10(200, seed=2)[0])
    f, fy = standins.synthetic_fashion_mnist(100)
    assert f.shape == (100, 1, 28, 28) and f.dtype == torch.uint8


def test_cifar_standin_is_learnable_by_a_small_cnn():
    torch.manual_seed(0)
    x, y = standins.synthetic_cifar10(1500, seed=0)
    x = (x.float() / 255 - 0.5) / 0.25
    block = lambda i, o: [torch.nn.Conv2d(i, o, 3, padding=1), torch.nn.BatchNorm2d(o), torch.nn.ReLU()]
    net = torch.nn.Sequential(*block(3, 16), torch.nn.MaxPool2d(2), *block(16, 32), torch.nn.MaxPool2d(2),
                              *block(32, 32), torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(2):
        for i in range(0, 1000, 50):
            loss = torch.nn.functional.cross_entropy(net(x[i:i + 50]), y[i:i + 50])
            opt.zero_grad(); loss.backward(); opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(x[1000:]).argmax(1) == y[1000:]).float().mean().item()
    assert acc > 0.5, f"stand-in not learnable enough: {acc:.2f} (chance 0.10)"


def test_offline_loader_returns_labelled_standin_fast(empty_data_dir, monkeypatch, capsys):
    # simulate a network that never answers (no real traffic is sent): the probe must give
    # up on its own after PROBE_TIMEOUT_S instead of hanging
    monkeypatch.delenv("NB_OFFLINE", raising=False)

    def never_answers(*args, **kwargs):
        time.sleep(5)                      # far longer than the probe waits
        raise OSError("timed out")

    monkeypatch.setattr(download.socket, "create_connection", never_answers)
    monkeypatch.setattr(download, "PROBE_TIMEOUT_S", 1.0)
    download._REACHABLE.clear()
    t0 = time.perf_counter()
    assert not download.host_reachable(data._SPECS["cifar10"]["url"], timeout=1.0)
    assert time.perf_counter() - t0 < 3                               # bounded: it cannot hang
    download._REACHABLE.clear()
    ds = data.cifar10("train", n=500)
    download._REACHABLE.clear()
    assert ds.source == "synthetic" and not ds.is_real and len(ds) == 500
    assert ds.classes == standins.CIFAR10_CLASSES
    assert "SYNTHETIC" in capsys.readouterr().out
    assert not any(p.name.startswith(".partial") for p in empty_data_dir.iterdir())


def test_strict_mode_says_what_to_put_where(empty_data_dir, monkeypatch):
    monkeypatch.setenv("NB_STRICT", "1")
    monkeypatch.setenv("NB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="cifar-10-batches-py.*" + str(empty_data_dir).replace("/", ".")):
        data.cifar10()
    monkeypatch.setattr(pretrained, "packaged_weights_path", lambda arch, install=False: None)
    with pytest.raises(RuntimeError, match="resnet18-f37072fd.pth"):
        pretrained.resnet18()


def test_corrupt_cache_is_never_used(empty_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("NB_OFFLINE", "1")
    raw = empty_data_dir / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x03truncated")
    ds = data.fashion_mnist("train", n=50)
    assert ds.source == "synthetic"
    assert "corrupt" in capsys.readouterr().out
    monkeypatch.setenv("NB_STRICT", "1")
    with pytest.raises(RuntimeError, match="corrupt"):
        data.fashion_mnist("train")


def test_failed_download_leaves_nothing(tmp_path):
    def fetch(tmp):
        (tmp / "thing").mkdir()
        (tmp / "thing" / "half.bin").write_bytes(b"x")
        raise OSError("connection reset")

    with pytest.raises(OSError):
        download.download_into_place(fetch, "thing", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_names_are_explained():
    with pytest.raises(ValueError, match="cifar10, fashion_mnist"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load("cifar10", split="val")
    with pytest.raises(ValueError, match="resnet18"):
        pretrained.imagenet_model("alexnet9")
    with pytest.raises(ValueError, match="cat"):
        photos.photo("dog")


def test_real_fashion_sample_when_present():
    ds = data.fashion_mnist("test", verbose=False)
    if not ds.is_real:
        pytest.skip("real Fashion-MNIST not in data/ (CI copies the sample there)")
    assert ds.images.shape[1:] == (1, 28, 28) and ds.images.dtype == torch.uint8
    assert set(ds.labels.tolist()) == set(range(10))
    sub = ds.per_class(3)
    assert torch.equal(torch.bincount(sub.labels, minlength=10), torch.full((10,), 3))


def _class_runs(labels) -> int:
    """Number of runs of equal consecutive labels: N for a random order, 10 for class order."""
    return 1 + int((labels[1:] != labels[:-1]).sum())


@pytest.mark.parametrize("name", ["cifar10", "fashion_mnist"])
def test_loaded_datasets_are_never_in_class_order(name, empty_data_dir, monkeypatch):
    """Class-ordered files (an image folder, a sorted sample) come back shuffled, with a fixed
    seed; the first 200 images hold every class. Checked on a stand-in written in class order
    and on the real data when it is present."""
    ds = data.load(name, "test", n=600, download=False, verbose=False)    # the stand-in
    order = torch.argsort(ds.labels, stable=True)                # the same images, class by class
    monkeypatch.setitem(data._SPECS[name], "reader", lambda root, train: (ds.images[order], ds.labels[order]))
    (empty_data_dir / data._SPECS[name]["folder"]).mkdir(parents=True, exist_ok=True)
    for loaded in (data.load(name, "test", download=False, verbose=False),
                   data.load(name, "test", n=500, download=False, verbose=False)):
        assert _class_runs(loaded.labels) > len(loaded) // 2, "loaded in class order"
        assert set(loaded.labels[:200].tolist()) == set(range(10))
    again = data.load(name, "test", download=False, verbose=False)
    assert torch.equal(again.labels, data.load(name, "test", download=False, verbose=False).labels)


@pytest.mark.parametrize("name", ["cifar10", "fashion_mnist"])
def test_real_datasets_are_not_in_class_order_when_present(name):
    ds = data.load(name, "test", verbose=False)
    if not ds.is_real:
        pytest.skip(f"real {name} not in data/ (CI puts it there)")
    assert _class_runs(ds.labels) > len(ds) // 2
    assert set(ds.labels[:100].tolist()) == set(range(10))


def test_imagedata_indexing_and_tensors():
    x, y = standins.synthetic_cifar10(20)
    ds = data.ImageData(x, y, standins.CIFAR10_CLASSES, "cifar10", "train", "synthetic")
    img, label = ds[3]
    assert img.shape == (3, 32, 32) and 0 <= img.min() and img.max() <= 1 and label == int(y[3])
    xt, yt = ds.tensors()
    assert torch.allclose(xt[3], img)
    with pytest.raises(TypeError, match="uint8"):
        data.ImageData(x.float(), y, [], "n", "s", "x")


def test_photos_and_imagenet_preprocessing_match_torchvision():
    import torchvision.transforms.v2 as T

    img = photos.photo("cat")
    assert img.ndim == 3 and img.shape[2] == 3 and 0 <= img.min() and img.max() <= 1
    ours = photos.imagenet_preprocess(img)
    ref = T.Compose([T.Resize(256, antialias=True), T.CenterCrop(224)])(photos.to_tensor(img))
    assert ours.shape == (3, 224, 224)
    assert (ours - ref).abs().max() < 0.02
    batch, names = photos.imagenet_batch(["cat", "coffee"])
    assert batch.shape == (2, 3, 224, 224) and names == ["cat", "coffee"]
    assert photos.photo("camera", gray=True).ndim == 2


def test_pixel_model_normalizes_inside(empty_data_dir, monkeypatch):
    monkeypatch.setenv("NB_OFFLINE", "1")
    monkeypatch.setattr(pretrained, "packaged_weights_path", lambda arch, install=False: None)
    model = pretrained.resnet18()
    assert model.source == "random-init" and not model.is_pretrained and len(model.classes) == 1000
    x = torch.rand(2, 3, 64, 64)
    mean = torch.tensor(pretrained.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(pretrained.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(x), model.net((x - mean) / std), atol=1e-5)
    top = pretrained.top_k(model, x, k=3)
    assert len(top) == 2 and len(top[0]) == 3 and abs(sum(p for _, p in top[0])) <= 1


def test_corrupt_weights_are_rejected(empty_data_dir, monkeypatch):
    monkeypatch.setenv("NB_OFFLINE", "1")
    path = pretrained.weights_path("resnet18")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    model = pretrained.resnet18()                 # falls back to the packaged network
    assert model.arch != "resnet18" and "could not be used" in model.description
