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
import io
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


class _Stop(Exception):
    """Raised by the hook of :func:`extract` with ``layer=``: the rest of the forward pass is skipped."""


@torch.no_grad()
def extract(model: nn.Module, x, size: int | None = None, batch_size: int = 256,
            device=None, desc: str = "features", amp: bool = True,
            layer: str | None = None) -> np.ndarray:
    """Penultimate features ``(N, D) float32`` of ``x: (N, C, H, W)`` in [0, 1] (or uint8).

    A forward hook records the input of the model's last ``nn.Linear``; images are moved to
    ``device`` a batch at a time, resized to ``size`` (``None`` keeps them), and run in eval
    mode (half precision autocast on CUDA when ``amp``). The model's mode is restored.
    ``layer`` (a module name such as ``model.layers["middle"]``) records that module's output
    instead, averaged over its spatial positions: ``(N, channels)``, the features of an
    earlier stage ("a linear classifier from different stages", notebook 07).
    """
    x = validate.images(x, "x", allow_uint8=True)
    if size is not None:
        size = validate.integer(size, "size", minimum=8, meaning="pixels, or None to keep them")
    batch_size = validate.integer(batch_size, "batch_size")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    store = []
    if layer is None:
        hook = last_linear(model).register_forward_hook(
            lambda mod, inp, out: store.append(inp[0].detach().float().flatten(1).cpu()))
    else:
        def hook_fn(mod, inp, out):
            store.append(out.detach().float().mean(dim=(2, 3)).cpu())
            raise _Stop                     # the layers after it are not needed: skip them
        hook = model.get_submodule(layer).register_forward_hook(hook_fn)
    use_amp = amp and device.type == "cuda"
    try:
        with runtime.eval_mode(model):
            for i in runtime.progress(range(0, len(x), batch_size), desc=desc, unit="batch", leave=False,
                      delay=PROGRESS_DELAY_S):
                xb = resize(x[i:i + batch_size].to(device, non_blocking=True).float(), size)
                with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                    try:
                        model(xb)
                    except _Stop:
                        pass
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
                   verbose: bool = True, layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
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
             _fingerprint(*model.state_dict().values())] + ([layer] if layer else [])
    key = "-".join(str(p).replace("/", "_").replace(" ", "_") for p in parts)
    path = cache_dir() / f"{key}.npz"
    what = (f"{getattr(model, 'name', mname)}{f' {layer}' if layer else ''}, {ds.name} {ds.split} ({len(ds):,} images"
            + (f" at {size} px)" if size is not None else ")"))
    if path.exists() and not refresh:
        cached = _read_cache(path, ds)
        if cached is not None:
            if verbose:
                print(f"[features] {what}: {cached[0].shape} read from the disk cache")
            return cached
    t0 = time.perf_counter()
    feats = extract(model, ds.images, size=size, batch_size=batch_size, device=device,
                    desc=f"{mname} features", layer=layer)
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


def logreg_fit(train_x, train_y, C: float = 1.0, max_iter: int = 100, num_classes=None,
               standardize: bool = True):
    """Multinomial logistic regression, fitted by L-BFGS in torch.

    Minimizes ``mean cross-entropy + ||W||^2 / (2 C N)`` (the objective of scikit-learn's
    ``LogisticRegression(C=C)`` divided by N; the bias is not penalized). Returns a function
    ``predict(x: (M, D)) -> (M,)`` labels. Full batch, so it takes well under a second for a
    few thousand points even with 3,072 raw-pixel dimensions.

    ``standardize=True`` first scales every feature to mean 0 and variance 1 *on the labelled
    set* (scikit-learn's ``StandardScaler``). With one label per class that is 10 points per
    feature: a feature that happens to vary little among those 10 gets a huge weight, so the
    1-shot accuracy dips (notebook 07 shows it). ``standardize=False`` keeps the features as
    they are (pass them centred and L2-normalized, as for the prototypes).
    """
    train_x, train_y, _ = _check_feats(train_x, train_y, np.zeros((0, np.shape(train_x)[-1])))
    if C <= 0:
        raise ValueError(f"C (inverse regularization strength) must be > 0, got {C}")
    with single_thread():
        return _logreg_fit(train_x, train_y, C, max_iter, num_classes, standardize)


def _logreg_fit(train_x, train_y, C, max_iter, num_classes, standardize=True):
    if standardize:
        mean, std = train_x.mean(0), train_x.std(0) + 1e-8
    else:
        mean, std = np.zeros(train_x.shape[1]), np.ones(train_x.shape[1])
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


def logreg_accuracy(train_x, train_y, test_x, test_y, C: float = 1.0, max_iter: int = 100,
                    standardize: bool = True) -> float:
    """Test accuracy of :func:`logreg_fit` (softmax regression, standardized features by default)."""
    train_x, train_y, test_x = _check_feats(train_x, train_y, test_x)
    _check_test_labels(test_x, test_y)
    predict = logreg_fit(train_x, train_y, C=C, max_iter=max_iter, standardize=standardize)
    return float((predict(test_x) == np.asarray(test_y)).mean())


def nn_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Test accuracy of :func:`cosine_nn_predict`."""
    _check_test_labels(np.asarray(test_x), test_y)
    return float((cosine_nn_predict(train_x, train_y, test_x) == np.asarray(test_y)).mean())


def prototype_predict(train_x, train_y, test_x) -> np.ndarray:
    """Nearest class mean ("prototype", Snell et al. 2017; SimpleShot, Wang et al. 2019).

    Every row is L2-normalized, the prototype of a class is the mean of its normalized labelled
    rows, and a test row gets the class of the nearest prototype (Euclidean distance). Pass
    features centred as SimpleShot does (:func:`center` with the mean feature of the images the
    network was trained on); then this is SimpleShot's CL2N nearest-centroid rule.
    train_x: (N, D), train_y: (N,), test_x: (M, D) -> (M,) labels.
    """
    train_x, train_y, test_x = _check_feats(train_x, train_y, test_x)
    classes = np.unique(train_y)
    with single_thread():
        a, q = l2_normalize(train_x), l2_normalize(test_x)
        protos = np.stack([a[train_y == c].mean(0) for c in classes])        # (C, D)
        dist = (q * q).sum(1)[:, None] - 2 * q @ protos.T + (protos * protos).sum(1)[None]
    return classes[dist.argmin(axis=1)]


def prototype_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Test accuracy of :func:`prototype_predict`."""
    _check_test_labels(np.asarray(test_x), test_y)
    return float((prototype_predict(train_x, train_y, test_x) == np.asarray(test_y)).mean())


def logreg_l2n_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Logistic regression on L2-normalized rows, not standardized (no per-feature scale
    estimated from the few labelled points; the protocol of Tian et al. 2020)."""
    return logreg_accuracy(l2_normalize(train_x), train_y, l2_normalize(test_x), test_y,
                           standardize=False)


METHODS = {"nearest neighbour": nn_accuracy, "logistic regression": logreg_accuracy}
#: further methods :func:`few_shot` accepts (kept apart so that METHODS lists the two classics)
MORE_METHODS = {"class mean": prototype_accuracy, "logistic regression (L2-normalized)":
                logreg_l2n_accuracy}


def few_shot(train_x, train_y, test_x, test_y, shots=(1, 5, 10), draws: int = 5,
             methods=("nearest neighbour", "logistic regression"), seed: int = 0,
             transform=None) -> dict:
    """Accuracy with n labelled examples per class, over ``draws`` random labelled sets.

    ``transform(labelled_x) -> fn`` optionally fits a feature map on the labelled set only
    (e.g. PCA) and returns a function applied to both sets. Returns
    ``{method: {n: np.ndarray of per-draw accuracies}}``.
    """
    known = {**METHODS, **MORE_METHODS}
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}: choose from {list(METHODS)} or "
                         f"{list(MORE_METHODS)}")
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
                accs[m].append(known[m](xl, train_y[idx], xt, test_y))
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


def nc2(features, labels) -> float:
    """NC2, the distance of the class means from a simplex ETF (Papyan, Han & Donoho 2020).

    The centred class means ``m_c = mu_c - mu_G`` of a simplex equiangular tight frame have equal
    lengths and pairwise cosines ``-1 / (C - 1)``; this returns the mean of
    ``|cos(m_c, m_c') + 1 / (C - 1)|`` over the ``C (C - 1)`` ordered pairs ``c != c'`` (Papyan et
    al.'s "equiangularity" and "maximal-angle" measure). features: (N, D), labels: (N,).
    """
    h = np.asarray(features, np.float64)
    y = np.asarray(labels)
    if h.ndim != 2 or y.shape != (len(h),):
        raise ValueError(f"features must be (N, D) and labels (N,), got {h.shape} and {y.shape}")
    classes = np.unique(y)
    C = len(classes)
    if C < 2:
        raise ValueError("NC2 needs at least two classes")
    m = np.stack([h[y == c].mean(axis=0) for c in classes]) - h.mean(axis=0)    # (C, D)
    cos = l2_normalize(m) @ l2_normalize(m).T
    off = cos[~np.eye(C, dtype=bool)]
    return float(np.abs(off + 1.0 / (C - 1)).mean())


# --------------------------------------------------------------------------- notebook 07's claims
def transfer_thresholds() -> dict:
    """The margins of notebook 07's claims, and why they hold for any ImageNet network.

    * ``vs_pixels`` = 1.5: with 10 labels per class a linear model on CIFAR-10 pixels stays near
      0.2-0.25 (on all 50,000 labelled images it reaches only about 0.40, CS231n), while linear
      probes of ImageNet networks reach 0.85-0.9 on CIFAR-10 with all labels (Kornblith et al.
      2019). 1.5x at 10 labels per class is the lecture's "far fewer labels" with room for a
      small input (64-96 px) and a weaker network: EfficientNet-Lite0 measured 1.9-2.4x.
    * ``vs_random`` = 0.10: the same architecture with random weights computes a random
      projection of the pixels, about as good as the pixels; any network whose ImageNet
      training transfers at all lands well above it (Lite0 measured 0.17-0.35 above).
    * ``p_at_5`` = 0.3 and ``p_at_5_lead`` = 0.10: retrieval precision@5 (chance 0.1) of
      features that put objects of a kind together; pixels and random weights measured about
      0.2, Lite0 0.39 in the smallest (smoke) setting.
    """
    return dict(vs_pixels=1.5, vs_random=0.10, p_at_5=0.3, p_at_5_lead=0.10)


def fine_tune_thresholds() -> dict:
    """The margins of notebook 07's fine-tuning claim, for any ImageNet network.

    * ``fit`` = 0.9: with 10 labels per class a fine-tuned network that has learned anything
      classifies its own training images; below 90 % the recipe destroyed what it started from
      (a random head with a large learning rate and batch norm in train mode left another
      backbone at a loss of 1.88 on its 100 images).
    * ``drift`` = 1e-5: fitting alone cannot fail after a linear probe that already fits, so the
      claim also asks that fine-tuning moved the features of the layer before last: 1 - linear
      CKA of the test images' features before vs after at least 1e-5. A frozen layer's drift is
      0 to rounding (below 1e-6, checked beside it on the earlier stage), so this is a move, not
      noise. A few epochs at a backbone learning rate of 1e-4 move them little: in the smoke
      setting EfficientNet-Lite0 measured about 1e-4 (last block only) and 0.07-0.14 (everything).
    """
    return dict(fit=0.9, drift=1e-5)


def compare_regimes(test_acc: dict, n_test: int) -> tuple[str, float, bool]:
    """``(best, lead, tie)`` for ``{regime: test accuracy}`` measured on ``n_test`` images.

    ``lead`` is the best accuracy minus the second best; ``tie`` is True when the lead is
    within two standard errors of an accuracy, ``2 sqrt(p (1 - p) / n_test)`` at the best
    ``p``: one labelled set and one test set cannot tell such a gap from noise.
    """
    if len(test_acc) < 2 or n_test < 1:
        raise ValueError(f"expected at least two regimes and n_test >= 1, got {test_acc} and {n_test}")
    ranked = sorted(test_acc.items(), key=lambda kv: -kv[1])
    (best, p), (_, second) = ranked[0], ranked[1]
    lead = p - second
    return best, float(lead), bool(lead <= 2 * np.sqrt(p * (1 - p) / n_test))


def linear_cka(a, b) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019) of two feature matrices.

    ``a: (N, D1)`` and ``b: (N, D2)`` describe the same N inputs (e.g. a layer's features before
    and after fine-tuning). 1 means the same representation up to a rotation and a uniform
    scale; it falls as the features move. ``||B^T A||_F^2 / (||A^T A||_F ||B^T B||_F)`` on
    column-centred A, B.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b) or len(a) < 2:
        raise ValueError(f"expected two (N, D) arrays with the same N >= 2, got {a.shape} and {b.shape}")
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    denom = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    if denom == 0:
        raise ValueError("a set of features is constant over the inputs: CKA is undefined")
    return float(np.linalg.norm(b.T @ a) ** 2 / denom)


def paired_bootstrap(correct_a, correct_b, reps: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """Accuracy of a minus accuracy of b on the SAME test images, with a bootstrap interval.

    ``correct_a``, ``correct_b``: ``(n_test,)`` or ``(draws, n_test)`` booleans (one row per draw
    of labelled images, the columns the same test images in the same order). The test images are
    resampled with replacement, the same columns for both and for every draw (a paired
    bootstrap), and the mean difference over the draws recomputed. Returns ``(difference, low,
    high)``, the interval at ``level``. Pairing removes the difficulty of each test image that
    both models share: the interval is narrower than two independent binomial ones.
    """
    a = np.atleast_2d(np.asarray(correct_a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(correct_b, dtype=np.float64))
    if a.shape != b.shape or a.shape[1] < 2:
        raise ValueError(f"expected two arrays of the same shape (draws, n_test >= 2), got {a.shape} and {b.shape}")
    if not 0 < level < 1:
        raise ValueError(f"expected 0 < level < 1, got {level}")
    d = (a - b).mean(axis=0)                                   # per test image, mean over draws
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, len(d), size=(reps, len(d)))].mean(axis=1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return float(d.mean()), float(lo), float(hi)


def paired_verdict(per_draw: list, low: float, high: float) -> str:
    """"ahead", "behind" or "tie" for a difference measured on paired test images.

    "ahead" only when the bootstrap interval ``(low, high)`` lies above 0 AND every draw of
    labelled images shows a difference of that sign ("behind" likewise); anything else is a
    tie: neither the test images nor the labelled images can tell it from noise.
    """
    per_draw = list(per_draw)
    if not per_draw or not low <= high:
        raise ValueError(f"expected per_draw: one difference per draw (at least one) and an interval low <= high, "
                         f"got {per_draw!r} and ({low}, {high})")
    if low > 0 and all(x > 0 for x in per_draw):
        return "ahead"
    if high < 0 and all(x < 0 for x in per_draw):
        return "behind"
    return "tie"


def weights_digest(model: nn.Module) -> str:
    """A short digest of a model's weights (what a saved result records it was made from)."""
    return _fingerprint(*model.state_dict().values())


def cached_result(name: str, made_from: dict, compute, what: str = "result"):
    """``compute()`` once, then read back from ``<data dir>/cache/<name>-<profile>.pt`` while
    ``made_from`` (network, weights, data, recipe) is unchanged.

    The file name carries the run profile (``smoke``, ``cpu``, ``gpu``), so the test suite's
    smoke run never overwrites the result a cpu or gpu run saved for the lecture. The result
    must be numbers, strings, tensors, tuples, lists or dicts (it is saved with
    :func:`helpers.plumbing.artifacts.save` and read back with ``weights_only=True``). One line
    says whether it was computed (and how long it took) or read back; when a saved result is
    not reused, the line names only which of its records changed.
    """
    from .plumbing import artifacts

    path = cache_dir() / f"{name}-{runtime.get_profile()}.pt"
    saved = None
    if path.exists():
        with contextlib.redirect_stdout(io.StringIO()):
            saved = artifacts.read(path, what)
        if saved is None:
            print(f"[cache] recomputing {what}: the saved file is unreadable or of an older format")
        elif artifacts.describe_difference(saved["made_from"], made_from):
            changed = sorted(k for k in made_from if saved["made_from"].get(k) != made_from[k])
            print(f"[cache] recomputing {what}: its {', '.join(changed) or 'record'} changed")
            saved = None
    if saved is not None:
        print(f"[cache] {what}: read back from the disk cache (same network, data and recipe)")
        return saved["result"]
    t0 = time.perf_counter()
    result = compute()
    artifacts.save(path, {"result": result}, made_from)
    print(f"[cache] {what}: computed in {time.perf_counter() - t0:.0f} s and saved")
    return result


def exercise_answer(name: str, D: int | None = None):
    """The expected answers of notebook 07's "Try it" checkers (kept off the screen)."""
    answers = {"cosine": lambda: 4 / (3 * np.sqrt(5)), "head": lambda: D * 100 + 100,
               "nc1": lambda: 0.0}
    if name not in answers or (name == "head" and D is None):
        raise ValueError(f"expected name: one of {list(answers)} (D for 'head'), got {name!r}")
    return answers[name]()
