"""PCA and the SVD (introduced in notebook 06; notebook 05 uses :func:`pca` as its baseline).

X: (n, d) float array of n samples (rows). PCA of centred X = U S V^T keeps the top-k right
singular vectors V_k (d, k); the reconstruction is mean + (X - mean) V_k V_k^T, and by
Eckart-Young-Mirsky no rank-k approximation of the centred data has a smaller squared error,
``sum_{i>k} s_i^2`` (:func:`eckart_young_error`).

Also here, for notebook 06 and ``benchmarks/pca_speed.py``:

* five ways to get the top-k singular values and right singular vectors, all
  ``fn(X, k) -> (s (k,) descending, Vt (k, d))``: :data:`SVD_METHODS`, timed by :func:`benchmark`,
  and :func:`randomized_svd_path` (randomized SVD's error after each power iteration);
* :func:`train_linear_autoencoder`: the linear autoencoder x -> x W1 W2 trained by gradient
  descent, which lands on the SVD's answer;
* :func:`principal_angles` between two subspaces.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import runtime
from .plumbing import validate


def _check_matrix(X, k=None, name: str = "X") -> np.ndarray:
    """Validate a 2-D finite numeric matrix (floats keep their dtype) and 1 <= k <= min(n, d)."""
    if not isinstance(X, np.ndarray) or X.dtype.kind != "f":
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a numeric (n, d) array, got {type(X).__name__}: {err}") from None
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n samples, d features) array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf: remove or impute those entries first")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an integer (number of components), got {k!r}")
        if k < 1:
            raise ValueError(f"k must be an integer >= 1 (number of components), got {k}")
        if k > min(X.shape):
            raise ValueError(f"k={k} is larger than min(n, d) = {min(X.shape)} for {name} of shape "
                             f"{X.shape}: a rank-k approximation needs k <= min(n, d)")
    return X


@dataclass
class PCA:
    """Fitted PCA: ``mean (d,)``, ``components (k, d)`` (rows = V_k^T), ``singular_values (k,)``."""

    mean: np.ndarray
    components: np.ndarray
    singular_values: np.ndarray
    n_samples: int

    @property
    def explained_variance(self) -> np.ndarray:
        return self.singular_values ** 2 / max(1, self.n_samples - 1)

    def encode(self, X) -> np.ndarray:
        """(n, d) -> (n, k) codes."""
        return (np.asarray(X) - self.mean) @ self.components.T

    def decode(self, Z) -> np.ndarray:
        """(n, k) -> (n, d) reconstructions."""
        return np.asarray(Z) @ self.components + self.mean

    def reconstruct(self, X) -> np.ndarray:
        return self.decode(self.encode(X))


def pca(X, k: int, center: bool = True) -> PCA:
    """Top-k PCA of X (n, d) by a full thin SVD (exact; see notebook 06 for faster ways)."""
    X = _check_matrix(X, k)
    mean = X.mean(axis=0) if center else np.zeros(X.shape[1], dtype=X.dtype)
    _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
    return PCA(mean=mean, components=vt[:k].copy(), singular_values=s[:k].copy(), n_samples=len(X))


def pca_reconstruction_mse(X_train, X_test, k: int) -> float:
    """Mean squared error per entry of reconstructing X_test with the top-k PCA of X_train."""
    model = pca(X_train, k)
    X_test = _check_matrix(X_test, name="X_test")
    if X_test.shape[1] != len(model.mean):
        raise ValueError(f"expected X_test: (m, {len(model.mean)}) rows with the d = "
                         f"{len(model.mean)} features of X_train, got shape {X_test.shape}")
    return float(np.mean((model.reconstruct(X_test) - X_test) ** 2))


def eckart_young_error(singular_values, k: int) -> float:
    """The smallest ||X - X_k||_F^2 over rank-k X_k: ``sum_{i>k} s_i^2``.

    singular_values: all of X's singular values, (min(n, d),); k = 0 gives ||X||_F^2.
    """
    s = np.asarray(singular_values, dtype=np.float64)
    if s.ndim != 1 or not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("singular_values must be a 1-D array of finite values >= 0")
    if int(k) != k or not 0 <= k <= len(s):
        raise ValueError(f"k must be an integer in [0, {len(s)}], got {k}")
    return float(np.sum(np.sort(s)[::-1][int(k):] ** 2))


def principal_angles(A, B) -> np.ndarray:
    """Principal angles (radians, largest first) between span of A's and span of B's columns.

    A: (d, p), B: (d, q). The cosines are the singular values of Qa^T Qb (orthonormal bases).
    """
    A, B = _check_matrix(A, name="A"), _check_matrix(B, name="B")
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"A and B must have the same number of rows, got {A.shape} and {B.shape}")
    qa, _ = np.linalg.qr(A.astype(np.float64))
    qb, _ = np.linalg.qr(B.astype(np.float64))
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa
    cos = np.linalg.svd(qa.T @ qb, compute_uv=False)             # (min(p, q),) descending
    sin = np.linalg.svd(qb - qa @ (qa.T @ qb), compute_uv=False)  # accurate for small angles
    angles = np.where(cos ** 2 < 0.5, np.arccos(np.clip(cos, -1, 1)),
                      np.arcsin(np.clip(np.sort(sin), 0, 1)))
    return np.sort(angles)[::-1]


# ------------------------------------------------------------------ top-k SVD, five ways
def _top(s, vt, k):
    order = np.argsort(s)[::-1][:k]
    return np.asarray(s)[order], np.asarray(vt)[order]


def svd_full(X, k: int):
    """``scipy.linalg.svd`` (LAPACK gesdd): the whole thin SVD, O(n d^2), then keep k."""
    import scipy.linalg

    X = _check_matrix(X, k)
    _, s, vt = scipy.linalg.svd(X, full_matrices=False, check_finite=False)
    return s[:k], vt[:k]


def svd_values(X, k: int):
    """``scipy.linalg.svd(X, compute_uv=False)``: all min(n, d) singular values, no vectors, then
    keep k. Returns (s[:k], None). The fair full-SVD entry in a race that scores only the values:
    :func:`svd_full` also forms the thin U (n x min(n, d)), which no other solver builds."""
    import scipy.linalg

    X = _check_matrix(X, k)
    s = scipy.linalg.svd(X, full_matrices=False, compute_uv=False, check_finite=False)
    return s[:k], None


def svd_sparse(X, k: int, seed: int = 0, tol: float = 0.0):
    """``scipy.sparse.linalg.svds`` (ARPACK Lanczos): about O(n d k) per restart; k < min(n, d).
    ``tol`` is ARPACK's relative accuracy for the Ritz values (0: machine precision)."""
    import scipy.sparse.linalg

    X = _check_matrix(X, k)
    if k >= min(X.shape):
        raise ValueError(f"svds needs k < min(n, d) = {min(X.shape)}, got k={k}: use svd_full")
    _, s, vt = scipy.sparse.linalg.svds(X, k=k, tol=tol, random_state=seed)
    return _top(s, vt, k)


def svd_sparse_counted(X, k: int, seed: int = 0, tol: float = 0.0):
    """:func:`svd_sparse` through a ``scipy.sparse.linalg.LinearOperator`` that counts what
    ARPACK asks for: returns ``s (k,), Vt (k, d), counts`` with ``counts["X"]`` and
    ``counts["X^T"]`` the number of matrix-vector products with X and with X^T (a product with
    an (d, m) block counts m). Each one reads all of X once, so their sum is the number of
    passes over X; a Lanczos step on X^T X costs two (X, then X^T)."""
    import scipy.sparse.linalg

    X = _check_matrix(X, k)
    if k >= min(X.shape):
        raise ValueError(f"svds needs k < min(n, d) = {min(X.shape)}, got k={k}: use svd_full")
    counts = {"X": 0, "X^T": 0}

    def matvec(v):
        counts["X"] += 1 if np.ndim(v) == 1 else np.shape(v)[1]
        return X @ v

    def rmatvec(v):
        counts["X^T"] += 1 if np.ndim(v) == 1 else np.shape(v)[1]
        return X.T @ v

    op = scipy.sparse.linalg.LinearOperator(X.shape, matvec=matvec, rmatvec=rmatvec,
                                            matmat=matvec, rmatmat=rmatvec, dtype=X.dtype)
    _, s, vt = scipy.sparse.linalg.svds(op, k=k, tol=tol, random_state=seed)
    s, vt = _top(s, vt, k)
    return s, vt, counts


def convergence_factor(errors) -> float:
    """Measured error factor per iteration: the geometric mean of ``errors[q+1] / errors[q]``
    over the whole path, ``(errors[-1] / errors[0]) ** (1 / (len - 1))`` (NaN for one entry).
    For randomized subspace iteration with l = k + p directions, the error of the k-th singular
    value falls by about ``(s_{l+1} / s_k) ** 4`` per power iteration (each multiplies the
    sketch by X^T X once, and a Ritz value's error is the square of its vector's)."""
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 1 or len(e) < 2:
        return float("nan")
    return float((e[-1] / e[0]) ** (1.0 / (len(e) - 1)))


def svd_randomized(X, k: int, oversample: int = 10, n_iter: int = 2, seed: int = 0):
    """Randomized SVD (Halko, Martinsson & Tropp 2011, randomized subspace iteration and the
    direct SVD, Algorithms 4.4 and 5.1), run on the row space of X.

    W spans ``(X^T X)^(q+1) Omega`` for ``k + p`` random directions Omega (p = ``oversample``,
    q = ``n_iter`` power iterations), re-orthonormalised after every product; then the exact
    SVD of the small sketch ``X W`` (n, k + p) gives the top-k singular values and right
    vectors. The span is the one of Halko et al.'s algorithm with q power iterations; every QR
    is of a (d, k + p) matrix, cheap when d is small (784 pixels). Cost about
    ``(2q + 3) n d (k + p)``. Returns ``s (k,), Vt (k, d)``. See :func:`randomized_svd_path`
    for the error after each power iteration."""
    X = _check_matrix(X, k)
    validate.integer(oversample, "oversample", minimum=0, meaning="extra sketch directions p")
    validate.integer(n_iter, "n_iter", minimum=0, meaning="power iterations")
    W = _sketch(X, k, oversample, seed)                                  # (d, l) random directions
    Y = X @ W                                                            # (n, l)
    for _ in range(n_iter + 1):
        W, _ = np.linalg.qr(X.T @ Y)                                     # (d, l) orthonormal
        Y = X @ W                                                        # (n, l)
    return _rayleigh_ritz(Y, W, k)


def _sketch(X, k, oversample, seed):
    l = min(k + oversample, min(X.shape))
    return np.random.default_rng(seed).standard_normal((X.shape[1], l)).astype(X.dtype)  # (d, l)


def _rayleigh_ritz(Y, W, k):
    """Top-k singular values and right vectors of X from the sketch Y = X W (n, l)."""
    import scipy.linalg

    _, s, vt_b = scipy.linalg.svd(Y, full_matrices=False, check_finite=False)
    return s[:k], vt_b[:k] @ W.T                                                   # (k,), (k, d)


def randomized_svd_path(X, k: int, oversample: int = 10, max_iter: int = 12, seed: int = 0,
                        reference=None, tol: float = 0.0) -> list[dict]:
    """One run of :func:`svd_randomized` that records, after q = 0, 1, ... power iterations,
    the top-k singular values it would return then and the time it has taken so far (the
    final SVD of the sketch included, timed once at the end and added to every row).

    Row q: ``{"q", "seconds", "s" (k,), "max_rel_err"}`` (the error needs ``reference``, the
    exact singular values; else NaN). Stops after ``max_iter`` iterations, or as soon as the
    error is below ``tol``. ``s`` of row q equals ``svd_randomized(X, k, oversample, q)[0]``
    (same seed) up to rounding. For notebook 06's solver race."""
    import scipy.linalg

    X = _check_matrix(X, k)
    validate.integer(oversample, "oversample", minimum=0, meaning="extra sketch directions p")
    validate.integer(max_iter, "max_iter", minimum=0, meaning="power iterations at most")
    ref = None if reference is None else np.asarray(reference, np.float64)[:k]
    rows, start = [], time.perf_counter()
    W = _sketch(X, k, oversample, seed)
    Y = X @ W
    for q in range(max_iter + 1):
        W, _ = np.linalg.qr(X.T @ Y)                                     # (d, l)
        Y = X @ W                                                        # (n, l): X seen through W
        Y64 = Y.astype(np.float64)
        s = np.sqrt(np.clip(scipy.linalg.eigvalsh(Y64.T @ Y64), 0, None))[::-1][:k]   # = svd(Y)
        err = float(np.max(np.abs(s - ref) / ref)) if ref is not None else float("nan")
        rows.append({"q": q, "seconds": time.perf_counter() - start, "s": s, "max_rel_err": err})
        if ref is not None and err < tol:
            break
    t0 = time.perf_counter()
    _rayleigh_ritz(Y, W, k)                                              # the vectors, timed once
    final = time.perf_counter() - t0
    for r in rows:
        r["seconds"] += final
    return rows


def svd_gram_eigh(X, k: int, dtype=np.float64):
    """Eigenvectors of the d x d Gram matrix X^T X (in ``dtype``, float64 by default): V, and
    s_i = sqrt(lambda_i). Cost O(n d^2) for the product (one BLAS call) + O(d^3) for
    ``scipy.linalg.eigh``. Squaring the singular values squares the condition number: in float32
    the small ones lose their accuracy (see :func:`svd_gram_eigh_float32`)."""
    import scipy.linalg

    X = _check_matrix(X, k)
    Xd = X.astype(dtype, copy=False)
    gram = Xd.T @ Xd                                                    # (d, d)
    d = gram.shape[0]
    lam, v = scipy.linalg.eigh(gram, subset_by_index=[d - k, d - 1], check_finite=False)
    return _top(np.sqrt(np.clip(lam, 0, None)), v.T, k)


def svd_gram_eigh_float32(X, k: int):
    """:func:`svd_gram_eigh` with the product in float32, the precision the other solvers get:
    the fair speed comparison, at the cost of accuracy in the small singular values."""
    return svd_gram_eigh(X, k, dtype=np.float32)


def svd_torch(X, k: int, device=None):
    """``torch.linalg.svd`` on ``device`` (the GPU when present); the transfer is included."""
    import torch

    X = _check_matrix(X, k)
    xt = torch.from_numpy(np.ascontiguousarray(X)).to(device or "cpu")
    _, s, vt = torch.linalg.svd(xt, full_matrices=False)
    return s[:k].cpu().numpy(), vt[:k].cpu().numpy()


SVD_METHODS = {
    "scipy.linalg.svd": svd_full,
    "sparse.linalg.svds": svd_sparse,
    "randomized SVD": svd_randomized,
    "eigh(X^T X)": svd_gram_eigh,
    "eigh(X^T X) float32": svd_gram_eigh_float32,
    "torch.linalg.svd": svd_torch,
}


def exact_singular_values(X) -> np.ndarray:
    """All singular values of X computed in float64 (the reference for the errors)."""
    import scipy.linalg

    X = _check_matrix(X)
    return scipy.linalg.svd(X.astype(np.float64), compute_uv=False)


def time_call(fn, *args, repeats: int = 3, **kwargs):
    """Best wall time over ``repeats`` calls (seconds) and the last result."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def benchmark(X, k: int, methods=None, repeats: int = 2, reference=None, device=None,
              progress: bool = True) -> list[dict]:
    """Time each method's top-k SVD of X (n, d) and its largest relative error against the
    exact singular values (``reference``, default :func:`exact_singular_values`).

    Returns rows ``{"method", "n", "k", "seconds", "max_rel_err"}`` in the order of ``methods``
    (names from :data:`SVD_METHODS`; default all of them).
    """

    X = _check_matrix(X, k)
    names = list(methods or SVD_METHODS)
    unknown = [m for m in names if m not in SVD_METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}: expected names from {list(SVD_METHODS)}")
    ref = exact_singular_values(X)[:k] if reference is None else np.asarray(reference)[:k]
    rows = []
    for name in runtime.progress(names, desc=f"SVD n={len(X)} k={k}", disable=not progress, leave=False):
        kw = {"device": device} if name == "torch.linalg.svd" else {}
        seconds, (s, _) = time_call(SVD_METHODS[name], X, k, repeats=repeats, **kw)
        err = float(np.max(np.abs(np.asarray(s, np.float64) - ref) / ref))
        rows.append({"method": name, "n": len(X), "k": k, "seconds": seconds, "max_rel_err": err})
    return rows


# ------------------------------------------------------------------ the linear autoencoder
@dataclass
class LinearAutoencoder:
    """Result of :func:`train_linear_autoencoder`: encoder ``W1 (d, k)``, decoder ``W2 (k, d)``,
    ``losses`` (||X - X W1 W2||_F^2 before each step, then the final one)."""

    W1: np.ndarray
    W2: np.ndarray
    losses: list = field(default_factory=list)

    def reconstruct(self, X) -> np.ndarray:
        """(n, d) -> (n, d): x W1 W2 (X centred like the training data)."""
        return np.asarray(X) @ self.W1 @ self.W2


def train_linear_autoencoder(X, k: int, steps: int = 500, lr: float = 0.2, momentum: float = 0.9,
                             init_scale: float = 1e-4, seed: int = 0, device=None,
                             callback=None, progress: bool = True) -> LinearAutoencoder:
    """Train x -> x W1 W2 (no biases, no non-linearity; X centred by the caller) by full-batch
    gradient descent with momentum on ``||X - X W1 W2||_F^2`` (notebook 06 writes this loop out).

    The loss only sees X through G = X^T X (d, d): ``tr(G) - 2 tr(G W1 W2) + tr(W1^T G W1 W2 W2^T)``,
    which is what is evaluated (cheaper than n x d residuals when n > d). The step is
    ``lr / s_1^2`` (s_1^2 = largest eigenvalue of G), so ``lr`` is unitless: the loss's curvature
    grows with s_1^2, and a raw step of 0.2 on a loss of size ||X||^2 would diverge.
    Weights start small (``init_scale``, W1 then W2 drawn from ``torch.Generator`` seeded with
    ``seed``): directions the data never visits keep that size.
    ``callback(step, W1, W2)`` (torch tensors) runs before every step and after the last;
    ``losses`` holds the loss before every step, then the final one (``steps + 1`` values).
    """
    import torch

    X = _check_matrix(X, k)
    if steps < 1 or lr <= 0 or not 0 <= momentum < 1:
        raise ValueError(f"need steps >= 1, lr > 0, 0 <= momentum < 1; got {steps}, {lr}, {momentum}")
    dev = torch.device(device or "cpu")
    dtype = torch.float64 if dev.type != "mps" else torch.float32
    xt = torch.as_tensor(X, dtype=dtype, device=dev)
    gram = xt.T @ xt                                                    # (d, d)
    trace = gram.diagonal().sum()
    if float(trace) <= 0:
        raise ValueError("X is all zeros: there is nothing to reconstruct")
    d = X.shape[1]
    g = torch.Generator().manual_seed(seed)
    W1 = (init_scale * torch.randn(d, k, generator=g, dtype=dtype)).to(dev).requires_grad_()
    W2 = (init_scale * torch.randn(k, d, generator=g, dtype=dtype)).to(dev).requires_grad_()
    curvature = float(torch.linalg.eigvalsh(gram.cpu().double())[-1])  # s_1^2
    opt = torch.optim.SGD([W1, W2], lr=lr / curvature, momentum=momentum)

    def loss_fn():
        gw = gram @ W1                                                  # (d, k)
        return trace - 2 * (gw * W2.T).sum() + ((W1.T @ gw) * (W2 @ W2.T)).sum()

    losses = []
    for step in runtime.progress(range(steps), desc=f"linear AE k={k}", disable=not progress, leave=False):
        if callback is not None:
            callback(step, W1.detach(), W2.detach())
        loss = loss_fn()
        losses.append(float(loss.detach()))
        if not np.isfinite(losses[-1]):
            raise runtime.TrainingError(f"the loss became {losses[-1]} at step {step}: lower lr (now {lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if callback is not None:
        callback(steps, W1.detach(), W2.detach())
    with torch.no_grad():
        losses.append(float(loss_fn()))
    if not np.isfinite(losses[-1]):
        raise runtime.TrainingError(f"the loss became {losses[-1]} at step {steps}: lower lr (now {lr})")
    return LinearAutoencoder(W1.detach().cpu().numpy(), W2.detach().cpu().numpy(), losses)


def solver_flops(method: str, n: int, d: int, k: int, p: int = 0, q: int = 0, matvecs: int = 0) -> float:
    """Floating-point operations (a multiply-add counts 2) of one solver of the race on an n x d
    matrix, n >= d, top k. Leading terms only, from Golub & Van Loan (2013), Figure 8.6.1 (the
    R-SVD: QR first, then the SVD of the d x d triangle) and the obvious product counts:

    * ``"svd"``: thin U, s, V^T: 6 n d^2 + 20 d^3;
    * ``"svd values"``: s only: 2 n d^2 + 2 d^3;
    * ``"gram eigh"``: X^T X (symmetric, BLAS syrk: n d^2) then tridiagonalisation, 4 d^3 / 3
      (the top-k eigenpairs after it are O(d^2 k));
    * ``"randomized"``: the loop of notebook 06 with p oversampling and q power iterations:
      2q + 3 products with X of width k + p (2 n d (k + p) each), q + 1 QRs of d x (k + p)
      (4 d (k + p)^2 each) and the small SVD of Y, n x (k + p) (2 n (k + p)^2 + 11 (k + p)^3);
    * ``"svds"``: ``matvecs`` products with X or X^T, 2 n d each (ARPACK's own work, O(d k^2) per
      restart, is left out).
    """
    n, d, k, p, q, matvecs = (int(v) for v in (n, d, k, p, q, matvecs))
    if n < d or min(n, d, k) < 1:
        raise ValueError(f"expected n >= d >= 1 and k >= 1, got n={n}, d={d}, k={k}")
    w = k + p
    counts = {
        "svd": 6 * n * d ** 2 + 20 * d ** 3,
        "svd values": 2 * n * d ** 2 + 2 * d ** 3,
        "gram eigh": n * d ** 2 + 4 * d ** 3 / 3,
        "randomized": (2 * q + 3) * 2 * n * d * w + (q + 1) * 4 * d * w ** 2 + 2 * n * w ** 2 + 11 * w ** 3,
        "svds": matvecs * 2 * n * d,
    }
    if method not in counts:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(counts)}")
    return float(counts[method])


def ppca_inpaint(X_seen, mu, Vt, variances, seen, k: int, noise_var: float) -> np.ndarray:
    """Fill the unobserved pixels of each row with probabilistic PCA's posterior mean (Tipping &
    Bishop 1999). Model: x = mu + V_k z + noise, z_i ~ N(0, variances[i]), noise ~ N(0, noise_var I).
    Given the observed pixels x_o (rows of ``X_seen``, (m, n_seen)), the posterior mean of z is the
    ridge solution z = (A^T A + noise_var diag(1 / variances))^{-1} A^T (x_o - mu_o), A = V_k's
    observed rows; the fill is mu_h + V_k's hidden rows z. With noise_var -> 0 it is plain least
    squares, which over-fits the observed pixels when k is large. Returns (m, n_hidden)."""
    seen, Vt = np.asarray(seen, dtype=bool), np.asarray(Vt)
    if seen.shape != (Vt.shape[1],) or not 1 <= k <= Vt.shape[0] or np.shape(X_seen)[-1] != seen.sum():
        raise ValueError(f"expected seen: a mask over the {Vt.shape[1]} pixels, 1 <= k <= {Vt.shape[0]} components and "
                         f"X_seen with one column per seen pixel; got a mask of shape {seen.shape}, k = {k}, "
                         f"X_seen of shape {np.shape(X_seen)}")
    A = Vt[:k, seen].T                                                      # (n_seen, k)
    ridge = noise_var * np.diag(1.0 / np.asarray(variances, dtype=np.float64)[:k])
    z = np.linalg.solve(A.T @ A + ridge, A.T @ (np.asarray(X_seen) - mu[seen]).T)   # (k, m)
    return mu[~seen] + z.T @ Vt[:k, ~seen]


def trained_once(name: str, made_from: dict, build, train_fn):
    """``(model, info, reused)``: a model trained once and reused on a rerun (notebook 06's
    non-linear autoencoder). Saved under the checkpoints folder as ``name.pt`` with its
    provenance (:mod:`helpers.plumbing.artifacts`) and reused only when it was made from
    ``made_from`` (data digest, recipe); otherwise ``model = build()`` is trained now by
    ``info = train_fn(model)`` (numbers, strings, lists and dicts only) and saved."""
    from .plumbing import artifacts

    if not isinstance(name, str) or not name or "/" in name or "\\" in name:
        raise ValueError(f"expected name: a non-empty file name without '/', got {name!r}")
    if not isinstance(made_from, dict) or not made_from:
        raise ValueError(f"expected made_from: a non-empty dict of what the model is made from, got {made_from!r}")
    if not callable(build) or not callable(train_fn):
        raise ValueError("expected build() -> model and train_fn(model) -> info: two callables")
    path = artifacts.checkpoint_dir() / f"{name}.pt"
    payload = artifacts.load(path, made_from, what=name, action="training it again")
    model = build()
    if payload is not None:
        model.load_state_dict(payload["state"])
        print(f"[{name}] reusing the model trained earlier from the same data and recipe ({path.name})")
        return model, payload["info"], True
    info = train_fn(model)
    artifacts.save_model(path, model, made_from, info=info)
    return model, info, False


def tie_margin(a: dict, b: dict, single_run: float = 1.25, floor: float = 1.5) -> float:
    """How much slower than the leader ``a`` the race entry ``b`` may be and still tie with it
    (notebook 06): the leader's spread. Each entry is a dict with ``"runs"`` (timed runs) and
    ``"spread"`` (slowest / fastest run). The two tie when their ranges of runs overlap, that is
    when ``b``'s best run is no slower than ``a``'s slowest one: a ratio of best times within
    ``a``'s spread. With a single run of the leader there is no measured spread, and
    ``single_run`` (1.25x by default; one call timed twice on a loaded 2-core machine can differ
    by that much) stands in for it. ``b`` is validated the same way; its own spread does not
    widen the margin (one slow outlier of ``b`` must not tie it with everything). The margin is
    never below ``floor`` (1.5x): each method's runs are timed in one block, and on a shared
    2-core machine the load drifts between blocks (notebook 06 measured one randomized-SVD call
    at 0.49 s in one block and 0.62 s at best in the next), so a smaller gap is not a win."""
    for name, entry in (("a", a), ("b", b)):
        if not isinstance(entry, dict) or not {"runs", "spread"} <= set(entry):
            raise ValueError(f"expected {name}: a race entry, a dict with 'runs' and 'spread', got {entry!r}")
        if not (isinstance(entry["runs"], int) and entry["runs"] >= 1) or not (np.isfinite(entry["spread"]) and entry["spread"] >= 1):
            raise ValueError(f"expected {name}: runs >= 1 and spread >= 1 (slowest / fastest), got {entry!r}")
    if not (np.isfinite(single_run) and single_run >= 1):
        raise ValueError(f"expected single_run >= 1, got {single_run!r}")
    if not (np.isfinite(floor) and floor >= 1):
        raise ValueError(f"expected floor >= 1, got {floor!r}")
    return float(max(floor, a["spread"] if a["runs"] > 1 else max(single_run, a["spread"])))
