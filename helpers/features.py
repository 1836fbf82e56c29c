"""Penultimate features, their on-disk cache, few-shot evaluation and neural collapse.

Introduced in notebook 07 (transfer learning and few-shot classification). The plumbing is
here; the ideas (cosine nearest neighbour, freezing layers, NC1) are taught in the notebook.

* :func:`extract` runs a classifier up to the layer before last (the input of its final
  ``nn.Linear``) on ``x: (N, C, H, W) float in [0, 1]``, in batches (a progress bar appears
  only when it takes more than a couple of seconds), resizing to ``size``; returns
  ``(N, D) float32``.
* :func:`cached_extract` stores those features under ``<data dir>/cache`` keyed by model
  source, dataset source and size, and returns the stored copy on the next run.
* :func:`center` subtracts the mean of a reference set (e.g. the unlabelled pool): cosine
  similarities of non-negative (post-ReLU) features are all close to 1 until centred.
* :func:`sample_per_class`, :func:`cosine_nn_predict`, :func:`logreg_accuracy` and
  :func:`few_shot` measure accuracy with n labelled examples per class over random draws.
* :func:`nc1` is the within-class variability metric of neural collapse (Papyan et al. 2020).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data, runtime
from .plumbing import validate


#: a progress bar appears only for loops that run longer than this (seconds)
PROGRESS_DELAY_S = 2.0


# --------------------------------------------------------------------------- extraction
def last_linear(model: nn.Module) -> nn.Linear:
    """The final ``nn.Linear`` of a classifier (ResNet ``fc``, VGG ``classifier[-1]``, ...)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError(f"{type(model).__name__} has no nn.Linear layer: cannot find the "
                        "penultimate features (pass a classifier ending in a linear layer)")
    return linears[-1]


def resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Bilinear (antialiased) resize to ``size x size``; grey images get 3 channels.

    x: (N, C, H, W) float in [0, 1] with C = 1 or 3 -> (N, 3, size, size).
    """
    validate.images(x, "x", check_range=False)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=True)
    return x


@torch.no_grad()
def extract(model: nn.Module, x, size: int | None = None, batch_size: int = 256,
            device=None, desc: str = "features", amp: bool = True) -> np.ndarray:
    """Penultimate features ``(N, D) float32`` of ``x: (N, C, H, W)`` in [0, 1] (or uint8).

    A forward hook records the input of the model's last ``nn.Linear``; images are moved to
    ``device`` a batch at a time, resized to ``size`` (``None`` keeps them), and run in eval
    mode (half precision autocast on CUDA when ``amp``). The model's mode is restored.
    """
    x = validate.images(x, "x", allow_uint8=True)
    if size is not None:
        size = validate.integer(size, "size", minimum=8, meaning="pixels, or None to keep them")
    batch_size = validate.integer(batch_size, "batch_size")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    store = []
    hook = last_linear(model).register_forward_hook(
        lambda mod, inp, out: store.append(inp[0].detach().float().flatten(1).cpu()))
    use_amp = amp and device.type == "cuda"
    try:
        with runtime.eval_mode(model):
            for i in runtime.progress(range(0, len(x), batch_size), desc=desc, unit="batch", leave=False,
                      delay=PROGRESS_DELAY_S):
                xb = resize(x[i:i + batch_size].to(device, non_blocking=True).float(), size)
                with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                    model(xb)
    finally:
        hook.remove()
    return torch.cat(store).numpy().astype(np.float32)


# --------------------------------------------------------------------------- cache
def cache_dir() -> Path:
    path = data.data_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fingerprint(*tensors) -> str:
    h = hashlib.sha1()
    for t in tensors:
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:10]


def _read_cache(path: Path, ds):
    """``(features, labels)`` from a cache file, or ``None`` (with one line naming the file)
    when it is truncated or corrupt or does not hold one row per image with ``ds``'s labels."""
    try:
        with np.load(path, allow_pickle=False) as z:
            feats, labels = z["features"], z["labels"]
    except Exception as err:  # truncated zip, missing array, not an npz
        print(f"[features] {path} is unreadable ({type(err).__name__}): corrupt or truncated; "
              f"extracting again")
        return None
    if feats.ndim != 2 or len(feats) != len(ds) or not np.array_equal(labels, ds.labels.numpy()):
        print(f"[features] {path} does not match the {len(ds)} images it was named for: "
              f"extracting again")
        return None
    return feats, labels


def cached_extract(model: nn.Module, ds, size: int | None = None, batch_size: int = 256,
                   device=None, name: str | None = None, refresh: bool = False,
                   verbose: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """:func:`extract` on an ``ImageData``, cached in ``<data dir>/cache/<key>.npz``.

    Returns ``(features (N, D) float32, labels (N,) int64)``. The key holds the model's
    ``arch``/``source`` (e.g. ``resnet18``/``random-init``), the dataset's name/split/source,
    N, ``size`` and hashes of the pixels and of the weights, so stand-in features never pass
    for real ones and changed weights never get stale features. The file is written to a
    temporary name and renamed (atomic); it is read without pickle, and a truncated file or one
    whose rows or labels do not match ``ds`` is reported by path and rebuilt.
    """
    if not hasattr(ds, "images") or not hasattr(ds, "labels"):
        raise TypeError(f"ds must be an ImageData (images + labels), got {type(ds).__name__}")
    mname = name or getattr(model, "arch", type(model).__name__)
    parts = [mname, getattr(model, "source", "custom"), f"{ds.name}_{ds.split}", ds.source,
             f"n{len(ds)}", f"s{size}", _fingerprint(ds.images),
             _fingerprint(*model.state_dict().values())]
    key = "-".join(str(p).replace("/", "_").replace(" ", "_") for p in parts)
    path = cache_dir() / f"{key}.npz"
    what = (f"{getattr(model, 'name', mname)}, {ds.name} {ds.split} ({len(ds):,} images"
            + (f" at {size} px)" if size is not None else ")"))
    if path.exists() and not refresh:
        cached = _read_cache(path, ds)
        if cached is not None:
            if verbose:
                print(f"[features] {what}: {cached[0].shape} read from the disk cache")
            return cached
    t0 = time.perf_counter()
    feats = extract(model, ds.images, size=size, batch_size=batch_size, device=device,
                    desc=f"{mname} features")
    seconds = time.perf_counter() - t0
    labels = ds.labels.numpy().astype(np.int64)
    tmp = path.with_name(path.name + ".partial.npz")
    np.savez(tmp, features=feats, labels=labels)
    os.replace(tmp, path)
    if verbose:
        print(f"[features] {what}: {feats.shape} extracted in {seconds:.1f} s "
              f"({len(feats) / seconds:.0f} images/s), saved to the disk cache")
    return feats, labels


# --------------------------------------------------------------------------- few-shot
@contextlib.contextmanager
def single_thread():
    """Run torch and the BLAS behind numpy on one thread for the enclosed block.

    The few-shot problems are small (at most a few thousand points): several threads gain
    nothing, and on a busy machine (other processes on the same cores) their synchronisation
    makes a 0.1 s solve take tens of seconds. Restores the previous settings.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                      # optional: numpy's BLAS keeps its own threads
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(1)
    try:
        with limits:
            yield
    finally:
        torch.set_num_threads(before)


def sample_per_class(labels, n: int, seed: int = 0, num_classes: int | None = None) -> np.ndarray:
    """Indices of exactly ``n`` random examples of every class (sorted by class).

    labels: (N,) ints in [0, C). Raises ValueError if a class has fewer than n examples.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (N,), got shape {labels.shape}")
    if int(n) != n or n < 1:
        raise ValueError(f"n (examples per class) must be an integer >= 1, got {n}")
    num_classes = num_classes or int(labels.max()) + 1
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) < n:
            raise ValueError(f"class {c} has only {len(idx)} examples, asked for {n} per class")
        picks.append(rng.choice(idx, size=int(n), replace=False))
    return np.concatenate(picks)


def _check_feats(train_x, train_y, test_x):
    train_x, test_x = np.asarray(train_x, np.float64), np.asarray(test_x, np.float64)
    train_y = np.asarray(train_y)
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D) with the same D, got "
                         f"{train_x.shape} and {test_x.shape}")
    if train_y.shape != (len(train_x),):
        raise ValueError(f"{len(train_x)} labelled features but labels of shape {train_y.shape}")
    return train_x, train_y, test_x


def _check_test_labels(test_x, test_y) -> None:
    if np.shape(test_y) != (len(test_x),):
        raise ValueError(f"expected test_y: one label per test row ({len(test_x)},), got shape "
                         f"{np.shape(test_y)}")


def l2_normalize(f: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length: ``f / ||f||``. f: (N, D)."""
    f = np.asarray(f, np.float64)
    if f.ndim != 2:
        raise ValueError(f"expected f: a 2-D (N, D) array of feature rows, got shape {f.shape}"
                         + (": one row needs f[None]" if f.ndim == 1 else ""))
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), eps)


def center(reference, *others) -> tuple[np.ndarray, ...]:
    """Subtract the mean row of ``reference`` (N, D) from it and from every array in ``others``
    (M, D); returns the centred arrays, ``reference`` first.

    Features after a ReLU are all >= 0, so any two of them make an angle of at most 90 degrees:
    their cosine similarities are all positive (for some networks all close to 1), whatever
    the classes. After centring, cosine measures how two images differ from the *average*
    image. Use an unlabelled set (e.g. the pool) as the reference.
    """
    ref = np.asarray(reference, np.float64)
    if ref.ndim != 2:
        raise ValueError(f"expected reference: a 2-D (N, D) array of feature rows, got shape "
                         f"{ref.shape}")
    mean = ref.mean(axis=0)
    out = [ref - mean]
    for i, other in enumerate(others):
        other = np.asarray(other, np.float64)
        if other.ndim != 2 or other.shape[1] != ref.shape[1]:
            raise ValueError(f"expected others[{i}]: (M, {ref.shape[1]}) like the reference, got "
                             f"shape {other.shape}")
        out.append(other - mean)
    return tuple(out)


def cosine_nn_predict(train_x, train_y, test_x) -> np.ndarray:
    """Label of the most cosine-similar labelled example, for every row of ``test_x``.

    train_x: (N, D), train_y: (N,), test_x: (M, D) -> (M,) predicted labels.
    """
    train_x, train_y, test_x = _check_feats(train_x, train_y, test_x)
    with single_thread():
        sim = l2_normalize(test_x) @ l2_normalize(train_x).T               # (M, N)
    return train_y[sim.argmax(axis=1)]


def logreg_fit(train_x, train_y, C: float = 1.0, max_iter: int = 100, num_classes=None):
    """Multinomial logistic regression on standardized features, fitted by L-BFGS in torch.

    Minimizes ``mean cross-entropy + ||W||^2 / (2 C N)`` (the objective of scikit-learn's
    ``LogisticRegression(C=C)`` divided by N; the bias is not penalized). Returns a function
    ``predict(x: (M, D)) -> (M,)`` labels. Full batch, so it takes well under a second for a
    few thousand points even with 3,072 raw-pixel dimensions.
    """
    train_x, train_y, _ = _check_feats(train_x, train_y, np.zeros((0, np.shape(train_x)[-1])))
    if C <= 0:
        raise ValueError(f"C (inverse regularization strength) must be > 0, got {C}")
    with single_thread():
        return _logreg_fit(train_x, train_y, C, max_iter, num_classes)


def _logreg_fit(train_x, train_y, C, max_iter, num_classes):
    mean, std = train_x.mean(0), train_x.std(0) + 1e-8
    xs = (train_x - mean) / std                                              # (N, D)
    # With N < D the optimal W lies in the row space of xs (the loss sees W only through
    # xs W and the penalty is rotation-invariant), so solve in an orthonormal N-dim basis
    # (D, N) of that space: Q of the QR decomposition of xs^T (cheaper than an SVD).
    basis = np.linalg.qr(xs.T)[0] if len(xs) < xs.shape[1] else None
    x = torch.as_tensor(xs @ basis if basis is not None else xs, dtype=torch.float64)
    y = torch.as_tensor(train_y, dtype=torch.long)
    k = num_classes or int(y.max()) + 1
    w = torch.zeros(x.shape[1], k, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=1e-6,
                            line_search_fn="strong_wolfe")
    l2 = 1.0 / (C * len(x))

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w_, b_ = w.detach().numpy(), b.detach().numpy()
    if basis is not None:
        w_ = basis @ w_                                                      # back to (D, k)

    def predict(test_x):
        with single_thread():
            return np.argmax(((np.asarray(test_x, np.float64) - mean) / std) @ w_ + b_, axis=1)

    return predict


def logreg_accuracy(train_x, train_y, test_x, test_y, C: float = 1.0, max_iter: int = 100) -> float:
    """Test accuracy of :func:`logreg_fit` (softmax regression on standardized features)."""
    train_x, train_y, test_x = _check_feats(train_x, train_y, test_x)
    _check_test_labels(test_x, test_y)
    predict = logreg_fit(train_x, train_y, C=C, max_iter=max_iter)
    return float((predict(test_x) == np.asarray(test_y)).mean())


def nn_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Test accuracy of :func:`cosine_nn_predict`."""
    _check_test_labels(np.asarray(test_x), test_y)
    return float((cosine_nn_predict(train_x, train_y, test_x) == np.asarray(test_y)).mean())


METHODS = {"nearest neighbour": nn_accuracy, "logistic regression": logreg_accuracy}


def few_shot(train_x, train_y, test_x, test_y, shots=(1, 5, 10), draws: int = 5,
             methods=("nearest neighbour", "logistic regression"), seed: int = 0,
             transform=None) -> dict:
    """Accuracy with n labelled examples per class, over ``draws`` random labelled sets.

    ``transform(labelled_x) -> fn`` optionally fits a feature map on the labelled set only
    (e.g. PCA) and returns a function applied to both sets. Returns
    ``{method: {n: np.ndarray of per-draw accuracies}}``.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}: choose from {list(METHODS)}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    out = {m: {} for m in methods}
    for n in shots:
        accs = {m: [] for m in methods}
        for d in range(draws):
            idx = sample_per_class(train_y, n, seed=seed + 1000 * d + n)
            xl, xt = train_x[idx], test_x
            if transform is not None:
                fn = transform(xl)
                xl, xt = fn(xl), fn(xt)
            for m in methods:
                accs[m].append(METHODS[m](xl, train_y[idx], xt, test_y))
        for m in methods:
            out[m][n] = np.array(accs[m])
    return out


# --------------------------------------------------------------------------- neural collapse
def nc1(features, labels) -> float:
    """NC1 = tr(Sigma_W Sigma_B^+) / C (Papyan, Han & Donoho 2020).

    features: (N, D), labels: (N,) with C >= 2 classes. Sigma_W is the average within-class
    covariance, Sigma_B the covariance of the class means around the global mean, ``+`` the
    pseudo-inverse. It tends to 0 as every class collapses to its mean.
    """
    h = np.asarray(features, np.float64)
    y = np.asarray(labels)
    if h.ndim != 2 or y.shape != (len(h),):
        raise ValueError(f"features must be (N, D) and labels (N,), got {h.shape} and {y.shape}")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("NC1 needs at least two classes")
    mu_g = h.mean(axis=0)
    means = np.stack([h[y == c].mean(axis=0) for c in classes])           # (C, D)
    centred = h - means[np.searchsorted(classes, y)]                        # (N, D)
    sigma_w = centred.T @ centred / len(h)
    diff = means - mu_g
    sigma_b = diff.T @ diff / len(classes)
    return float(np.trace(sigma_w @ scipy.linalg.pinvh(sigma_b, rtol=1e-8))
                 / len(classes))
