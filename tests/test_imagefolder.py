"""helpers.plumbing.imagefolder (class folders of images, decoded cache) and its use by helpers.data."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import data, runtime
from helpers.plumbing import imagefolder
from helpers.plumbing.standins import CIFAR10_CLASSES as CLASSES


def make_folder(root, split="train", per_class=2, seed=0, skip=()):
    """Write ``per_class`` random 32x32 PNGs per class; returns the (N, 3, 32, 32) pixels."""
    rng = np.random.default_rng(seed)
    pixels = []
    for name in CLASSES:
        if name in skip:
            continue
        (root / split / name).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / split / name / f"{i}.png")
            pixels.append(img.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(pixels))


def read(root, per_class=2, **kw):
    return imagefolder.read_split(root, "train", CLASSES, per_class, progress=False, **kw)


def test_good_folder_reads_back_exact_pixels_and_labels(tmp_path):
    written = make_folder(tmp_path, per_class=3)
    images, labels = read(tmp_path, per_class=3)
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.shape == (30,) and labels.dtype == torch.int64
    assert torch.equal(images, written)
    assert labels.tolist() == [c for c in range(10) for _ in range(3)]


def test_hidden_files_in_a_class_folder_are_ignored(tmp_path):
    """macOS copies leave ``._name.jpg`` resource forks beside each image; they are not images."""
    written = make_folder(tmp_path)
    (tmp_path / "train" / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07 not an image")
    images, _ = read(tmp_path)
    assert torch.equal(images, written)


def test_missing_class_folder_is_named(tmp_path):
    make_folder(tmp_path, skip=("cat",))
    with pytest.raises(imagefolder.ImageFolderError, match="cat") as err:
        read(tmp_path)
    assert isinstance(err.value, ValueError) and str(tmp_path / "train") in str(err.value)


def test_missing_split_folder_is_named(tmp_path):
    with pytest.raises(imagefolder.ImageFolderError, match="no folder"):
        imagefolder.read_split(tmp_path, "test", CLASSES, 2, progress=False)


def test_wrong_image_size_names_the_file(tmp_path):
    make_folder(tmp_path)
    bad = tmp_path / "train" / "dog" / "1.png"
    Image.fromarray(np.zeros((32, 31, 3), np.uint8)).save(bad)  # 31 wide, 32 high
    with pytest.raises(imagefolder.ImageFolderError, match="31x32") as err:
        read(tmp_path)
    assert str(bad) in str(err.value)


def test_unreadable_file_names_the_file(tmp_path):
    make_folder(tmp_path)
    bad = tmp_path / "train" / "ship" / "0.png"
    bad.write_bytes(b"this is not a png at all")
    with pytest.raises(imagefolder.ImageFolderError, match="could not be read") as err:
        read(tmp_path)
    assert str(bad) in str(err.value)


def test_wrong_count_per_class_names_class_and_counts(tmp_path):
    make_folder(tmp_path, per_class=3)
    (tmp_path / "train" / "frog" / "2.png").unlink()
    with pytest.raises(imagefolder.ImageFolderError, match="frog: 2") as err:
        read(tmp_path, per_class=3)
    assert "expected 3 per class" in str(err.value)
    assert "cat" not in str(err.value)  # only the offending class is listed


def fail_if_decoding(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("decoded again although the cache is valid")
    monkeypatch.setattr(imagefolder, "decode", boom)


def test_second_read_uses_the_cache(tmp_path, monkeypatch):
    make_folder(tmp_path)
    first = read(tmp_path)
    assert (tmp_path / ".decoded-train.pt").exists()
    fail_if_decoding(monkeypatch)
    second = read(tmp_path)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def counting_decode(monkeypatch):
    calls, real = [], imagefolder.decode
    monkeypatch.setattr(imagefolder, "decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_added_file_changes_fingerprint_and_decodes_again(tmp_path, monkeypatch):
    make_folder(tmp_path)
    read(tmp_path, per_class=None)
    calls = counting_decode(monkeypatch)
    Image.fromarray(np.full((32, 32, 3), 7, np.uint8)).save(tmp_path / "train" / "cat" / "9.png")
    images, labels = read(tmp_path, per_class=None)
    assert calls == [1] and len(labels) == 21
    assert (images[labels == 3][-1] == 7).all()


def test_modified_file_changes_fingerprint_and_decodes_again(tmp_path, monkeypatch):
    make_folder(tmp_path)
    before = read(tmp_path)[0]
    path = tmp_path / "train" / "airplane" / "0.png"
    files = imagefolder.list_files(tmp_path / "train", CLASSES)
    old_fp = imagefolder.fingerprint(files)
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a sure mtime change
    assert imagefolder.fingerprint(files) != old_fp
    calls = counting_decode(monkeypatch)
    after = read(tmp_path)[0]
    assert calls == [1] and (after[0] == 200).all() and torch.equal(after[1:], before[1:])


def test_truncated_cache_is_detected_and_rebuilt(tmp_path, monkeypatch, capsys):
    written = make_folder(tmp_path)
    read(tmp_path)
    cache = tmp_path / ".decoded-train.pt"
    cache.write_bytes(b"PK\x03\x04 trunc")
    capsys.readouterr()
    calls = counting_decode(monkeypatch)
    images, _ = read(tmp_path)
    out = capsys.readouterr().out
    assert "[image cache]" in out and str(cache) in out and "unreadable" in out
    assert calls == [1] and torch.equal(images, written)
    fail_if_decoding(monkeypatch)  # and the rebuilt cache is good again
    assert torch.equal(read(tmp_path)[0], written)


def test_cache_with_tampered_pixels_is_not_trusted(tmp_path, capsys):
    written = make_folder(tmp_path)
    read(tmp_path)
    cache = tmp_path / ".decoded-train.pt"
    saved = torch.load(cache, weights_only=True)
    saved["images"] = torch.zeros_like(saved["images"])
    torch.save(saved, cache)
    capsys.readouterr()
    images, _ = read(tmp_path)
    assert "does not match its checksum" in capsys.readouterr().out
    assert torch.equal(images, written)


@pytest.fixture
def cifar_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NB_OFFLINE", "1")
    monkeypatch.delenv("NB_STRICT", raising=False)
    monkeypatch.delenv("NB_REPORT", raising=False)
    monkeypatch.setitem(data._SPECS["cifar10"], "sizes", (30, 20))
    monkeypatch.setattr(runtime, "SOURCES", {})
    return tmp_path / "cifar10"


def test_data_load_reads_the_image_folder(cifar_dir, capsys):
    written = make_folder(cifar_dir, per_class=3)
    ds = data.load("cifar10", "train")
    assert ds.source == "image-folder" and ds.is_real and len(ds) == 30
    order = torch.randperm(30, generator=torch.Generator().manual_seed(0))   # the loader's fixed shuffle
    assert torch.equal(ds.images, written[order])
    assert "[data] CIFAR-10 train" in capsys.readouterr().out
    assert "image folder" in runtime.SOURCES["CIFAR-10 train"]


def test_data_load_falls_back_when_the_folder_is_bad(cifar_dir, capsys):
    make_folder(cifar_dir, per_class=3, skip=("horse",))
    ds = data.load("cifar10", "train")
    out = capsys.readouterr().out
    assert ds.source == "synthetic" and not ds.is_real and len(ds) == 30
    assert "warning: the image folder copy of CIFAR-10 is not usable" in out and "horse" in out
    assert "OFFLINE STAND-IN" in out


def test_data_load_strict_raises_on_a_bad_folder(cifar_dir, monkeypatch):
    make_folder(cifar_dir, per_class=3, skip=("horse",))
    monkeypatch.setenv("NB_STRICT", "1")
    with pytest.raises(RuntimeError, match="horse"):
        data.load("cifar10", "train")
