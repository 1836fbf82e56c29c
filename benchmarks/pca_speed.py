"""How fast can we get the top-k singular values of a 60000 x 784 float32 matrix? (notebook 06)

    python benchmarks/pca_speed.py                 # full size: 60000 x 784, k = 10, 50, 100
    python benchmarks/pca_speed.py --rows 10000 --k 50 --repeats 5

The matrix is the real Fashion-MNIST training set (centred) when it is cached in the data
directory, else the synthetic stand-in of the same size; the first line printed says which.
Every method (helpers.linalg.SVD_METHODS) is timed (best of --repeats) and its top-k singular
values are compared with the exact ones (float64 scipy.linalg.svd). Randomized SVD runs with
Halko et al.'s small oversampling (p = 10) and with p = k, each with as many power iterations as
the 1e-4 target needs (at most --max-q; linalg.randomized_svd_path, as in notebook 06); its row
names the faster of the two. The last lines name, for each k, the fastest method that matches the
exact top-k to 1e-4 relative error, its time and its ratio to the full scipy.linalg.svd measured
in this run.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import data, linalg, runtime  # noqa: E402
from helpers.plumbing import standins  # noqa: E402

TARGET_ERR = 1e-4


def timing_matrix(rows: int) -> tuple[np.ndarray, str]:
    """Centred (rows, 784) float32: real Fashion-MNIST if the full set is cached, else stand-in."""
    if rows < 1 or rows > 60000:
        raise SystemExit(f"--rows must lie in [1, 60000], got {rows}")
    ds = data.fashion_mnist("train", download=False, verbose=False) if _real_cached() else None
    if ds is not None and ds.is_real and len(ds) == 60000:
        images, source = ds.images[:rows], "REAL Fashion-MNIST training set"
    else:
        images, _ = standins.synthetic_fashion_mnist(rows, seed=0)
        source = "SYNTHETIC STAND-IN (the full real Fashion-MNIST training set is not cached)"
    X = images.reshape(rows, -1).double().numpy() / 255
    return (X - X.mean(axis=0)).astype(np.float32), source


def _real_cached() -> bool:
    return (data.data_dir() / "FashionMNIST").exists()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--k", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-q", type=int, default=12, help="power iterations at most for randomized SVD")
    parser.add_argument("--methods", nargs="+", default=list(linalg.SVD_METHODS),
                        help=f"any of: {', '.join(repr(m) for m in linalg.SVD_METHODS)}")
    args = parser.parse_args(argv)
    device = runtime.get_device()
    X, source = timing_matrix(args.rows)
    print(f"matrix: {X.shape} float32 from the {source}")
    print(f"machine: {runtime.device_name(device)}; torch method on {device}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    reference = linalg.exact_singular_values(X)
    methods = [m for m in dict.fromkeys(["scipy.linalg.svd"] + args.methods) if m != "randomized SVD"]
    rows = []
    for k in args.k:
        rows += linalg.benchmark(X, k, methods=methods, repeats=args.repeats, reference=reference,
                                 device=device)
        if "randomized SVD" in args.methods:
            tried = []
            for p in sorted({10, k}):
                path = linalg.randomized_svd_path(X, k, oversample=p, max_iter=args.max_q,
                                                  reference=reference, tol=TARGET_ERR)
                tried.append((path[-1]["max_rel_err"] >= TARGET_ERR, path[-1]["seconds"], p, path[-1]))
            _, seconds, p, last = min(tried, key=lambda t: (t[0], t[1]))
            rows.append({"method": f"randomized p={p} q={last['q']}", "n": len(X), "k": k,
                         "seconds": seconds, "max_rel_err": last["max_rel_err"]})
    full = {r["k"]: r["seconds"] for r in rows if r["method"] == "scipy.linalg.svd"}
    print(f"\n{'method':<24} {'k':>4} {'seconds':>9} {'x full SVD':>10} {'max rel err':>12}")
    for r in rows:
        print(f"{r['method']:<24} {r['k']:>4} {r['seconds']:>9.3f} {r['seconds'] / full[r['k']]:>10.3f} "
              f"{r['max_rel_err']:>12.1e}")
    print()
    for k in args.k:
        ok = [r for r in rows if r["k"] == k and r["max_rel_err"] < TARGET_ERR]
        best = min(ok, key=lambda r: r["seconds"])
        print(f"k = {k}: fastest within {TARGET_ERR:g} of the exact top-{k}: {best['method']} in "
              f"{best['seconds']:.3f} s = {best['seconds'] / full[k]:.3f} x the full scipy.linalg.svd "
              f"({full[k]:.3f} s), max rel err {best['max_rel_err']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
