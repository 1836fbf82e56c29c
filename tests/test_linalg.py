"""helpers.linalg against independent oracles: numpy.linalg.svd and scipy.linalg.subspace_angles."""
import numpy as np
import pytest
import scipy.linalg

from helpers import linalg


def _matrix(n=120, d=40, seed=0, decay=0.85):
    """A random (n, d) matrix with a decaying spectrum and well separated singular values."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((n, d)))
    v, _ = np.linalg.qr(rng.standard_normal((d, d)))
    s = 10 * decay ** np.arange(d)
    return (u * s) @ v.T + 0.5


def _same_up_to_sign(A, B, atol):
    """Rows of A and B equal up to a sign per row."""
    signs = np.sign(np.sum(A * B, axis=1, keepdims=True))
    return np.allclose(A * signs, B, atol=atol)


def test_pca_matches_numpy_svd():
    X = _matrix()
    k = 6
    model = linalg.pca(X, k)
    _, s, vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    np.testing.assert_allclose(model.mean, X.mean(0), atol=1e-12)
    np.testing.assert_allclose(model.singular_values, s[:k], rtol=1e-10)
    assert _same_up_to_sign(model.components, vt[:k], atol=1e-8)
    np.testing.assert_allclose(model.explained_variance, s[:k] ** 2 / (len(X) - 1), rtol=1e-10)
    # reconstruction error = Eckart-Young tail sum
    err = np.sum((model.reconstruct(X) - X) ** 2)
    assert err == pytest.approx(np.sum(s[k:] ** 2), rel=1e-9)
    assert err == pytest.approx(linalg.eckart_young_error(s, k), rel=1e-9)
    assert linalg.pca_reconstruction_mse(X, X, k) == pytest.approx(err / X.size, rel=1e-9)


def test_uncentred_pca_and_float32_kept():
    X = _matrix().astype(np.float32)
    model = linalg.pca(X, 3, center=False)
    s = np.linalg.svd(X.astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(model.singular_values, s[:3], rtol=1e-5)
    assert np.all(model.mean == 0) and model.components.dtype == np.float32


@pytest.mark.parametrize("name", list(linalg.SVD_METHODS))
def test_every_svd_method_matches_numpy(name):
    X = _matrix(n=300, d=50, seed=1).astype(np.float32)
    k = 8
    s_ref, vt_ref = np.linalg.svd(X.astype(np.float64), full_matrices=False)[1:]
    s, vt = linalg.SVD_METHODS[name](X, k)
    assert s.shape == (k,) and vt.shape == (k, X.shape[1])
    np.testing.assert_allclose(np.asarray(s, np.float64), s_ref[:k], rtol=1e-4)
    assert np.all(np.diff(s) <= 0), "descending"
    assert _same_up_to_sign(np.asarray(vt, np.float64), vt_ref[:k], atol=1e-3)


def test_benchmark_rows_and_reference():
    X = _matrix(n=200, d=30, seed=2)
    rows = linalg.benchmark(X, 5, repeats=1, progress=False)
    assert [r["method"] for r in rows] == list(linalg.SVD_METHODS)
    for r in rows:
        tol = 1e-4 if r["method"] == "eigh(X^T X) float32" else 1e-6     # float32 Gram: squared condition number
        assert r["seconds"] > 0 and r["max_rel_err"] < tol and r["n"] == 200 and r["k"] == 5
    np.testing.assert_allclose(linalg.exact_singular_values(X), np.linalg.svd(X, compute_uv=False), rtol=1e-12)


def test_eckart_young_error_is_tail_sum():
    s = np.array([5.0, 3.0, 2.0, 1.0])
    assert linalg.eckart_young_error(s, 0) == pytest.approx(39.0)
    assert linalg.eckart_young_error(s, 2) == pytest.approx(5.0)
    assert linalg.eckart_young_error(s, 4) == 0.0
    with pytest.raises(ValueError, match="k must be"):
        linalg.eckart_young_error(s, 5)


def test_principal_angles_match_scipy():
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((30, 4)), rng.standard_normal((30, 6))
    np.testing.assert_allclose(linalg.principal_angles(A, B), scipy.linalg.subspace_angles(A, B), atol=1e-10)
    # tiny angles are resolved (arccos alone would give ~1e-8 noise)
    C = A + 1e-9 * rng.standard_normal(A.shape)
    assert np.max(linalg.principal_angles(A, C)) < 1e-8
    np.testing.assert_allclose(linalg.principal_angles(A, A @ rng.standard_normal((4, 4))), 0, atol=1e-7)


def test_linear_autoencoder_reaches_eckart_young():
    X = _matrix(n=150, d=20, seed=4, decay=0.7)
    X = X - X.mean(0)
    k = 3
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    best = np.sum(s[k:] ** 2)
    ae = linalg.train_linear_autoencoder(X, k, steps=600, progress=False)
    direct = np.sum((X - ae.reconstruct(X)) ** 2)
    assert ae.losses[-1] == pytest.approx(direct, rel=1e-9)            # the Gram-form loss is the loss
    assert ae.losses[0] == pytest.approx(np.sum(X ** 2), rel=1e-3)     # untrained: reconstructs ~nothing
    assert direct >= best * (1 - 1e-9)
    assert direct / best - 1 < 1e-6
    assert np.max(linalg.principal_angles(ae.W1, vt[:k].T)) < 1e-3
    assert np.max(linalg.principal_angles(ae.W2.T, vt[:k].T)) < 1e-3


def test_linear_autoencoder_diverges_loudly():
    X = _matrix(n=50, d=10, seed=5)
    with pytest.raises(RuntimeError, match="lower lr"):
        linalg.train_linear_autoencoder(X, 2, steps=200, lr=50.0, momentum=0.0, init_scale=1.0, progress=False)


@pytest.mark.parametrize("fn", [linalg.pca, linalg.svd_full, linalg.svd_values, linalg.svd_randomized,
                                linalg.svd_gram_eigh, linalg.train_linear_autoencoder])
def test_bad_k_and_nans(fn):
    X = _matrix(n=12, d=5)
    with pytest.raises(ValueError, match=r"larger than min\(n, d\) = 5"):
        fn(X, 6)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        fn(X, 0)
    with pytest.raises(TypeError, match="k must be an integer"):
        fn(X, 2.5)
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        fn(X_nan, 2)


def test_bad_shapes_and_types():
    with pytest.raises(ValueError, match="2-D"):
        linalg.pca(np.ones(10), 1)
    with pytest.raises(TypeError, match="numeric"):
        linalg.pca([["a", "b"], ["c", "d"]], 1)
    with pytest.raises(ValueError, match="svds needs k < min"):
        linalg.svd_sparse(_matrix(n=12, d=5), 5)
    with pytest.raises(ValueError, match="same number of rows"):
        linalg.principal_angles(np.ones((4, 2)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="unknown method"):
        linalg.benchmark(_matrix(n=12, d=5), 2, methods=["magic"], progress=False)
    with pytest.raises(ValueError, match="all zeros"):
        linalg.train_linear_autoencoder(np.zeros((6, 4)), 1, progress=False)


def test_randomized_svd_path_matches_svd_randomized():
    """Row q of the path is what svd_randomized returns with n_iter=q; its error falls with q
    and reaches the exact values (the race in notebook 06 reads its time to an accuracy from it)."""
    X = _matrix(n=400, d=60, seed=6, decay=0.93).astype(np.float32)
    exact = np.linalg.svd(X.astype(np.float64), compute_uv=False)
    k = 10
    path = linalg.randomized_svd_path(X, k, oversample=5, max_iter=8, reference=exact)
    assert [r["q"] for r in path] == list(range(9))
    for r in path[::3]:
        s, _ = linalg.svd_randomized(X, k, oversample=5, n_iter=r["q"])
        np.testing.assert_allclose(r["s"], s, rtol=1e-4)
        assert r["max_rel_err"] == pytest.approx(np.max(np.abs(s - exact[:k]) / exact[:k]), rel=1e-2, abs=1e-6)
    errs = [r["max_rel_err"] for r in path]
    assert errs[-1] < 1e-2 * errs[0] and errs[-1] < 1e-4
    assert all(b > a for a, b in zip([r["seconds"] for r in path], [r["seconds"] for r in path[1:]]))
    # stopping at a tolerance: the first row below it is the last one
    short = linalg.randomized_svd_path(X, k, oversample=5, max_iter=8, reference=exact, tol=1e-3)
    assert short[-1]["max_rel_err"] < 1e-3 and all(r["max_rel_err"] >= 1e-3 for r in short[:-1])
    # without a reference there is no error, and no early stop
    assert np.isnan(linalg.randomized_svd_path(X, k, max_iter=2)[-1]["max_rel_err"])


def test_randomized_svd_is_halkos_subspace():
    """svd_randomized orthonormalises on the short side; its span after q power iterations is the
    span of (X^T X)^(q+1) Omega, the row space of Halko et al.'s Q^T X: their singular values agree."""
    X = _matrix(n=300, d=40, seed=7, decay=0.9)
    k, p, q = 6, 4, 2
    omega = np.random.default_rng(0).standard_normal((X.shape[1], k + p))
    Q, _ = np.linalg.qr(X @ np.linalg.matrix_power(X.T @ X, q) @ omega)      # Halko: range of (X X^T)^q X Omega
    s_halko = np.linalg.svd(Q.T @ X, compute_uv=False)[:k]
    s_ours, _ = linalg.svd_randomized(X, k, oversample=p, n_iter=q, seed=0)
    exact = np.linalg.svd(X, compute_uv=False)[:k]
    assert np.all(s_ours <= exact * (1 + 1e-12)) and np.all(s_halko <= exact * (1 + 1e-12))   # Ritz values: from below
    # ours projects X onto one more power of X^T X, so it is at least as accurate
    assert np.max(np.abs(s_ours - exact) / exact) <= np.max(np.abs(s_halko - exact) / exact) * (1 + 1e-9)


def test_linear_autoencoder_loop_written_out():
    """The loop notebook 06 writes out (Gram-form loss, step lr / s_1^2, W1 then W2 drawn from a
    seeded generator) is what train_linear_autoencoder runs."""
    import torch

    X = _matrix(n=100, d=12, seed=8, decay=0.7)
    X = X - X.mean(0)
    k, steps, lr = 3, 50, 0.2
    G = torch.as_tensor(X.T @ X)
    s1 = np.linalg.svd(X, compute_uv=False)[0]
    gen = torch.Generator().manual_seed(0)
    W1 = (1e-4 * torch.randn(12, k, generator=gen, dtype=torch.float64)).requires_grad_()
    W2 = (1e-4 * torch.randn(k, 12, generator=gen, dtype=torch.float64)).requires_grad_()
    opt = torch.optim.SGD([W1, W2], lr=lr / s1 ** 2, momentum=0.9)
    for _ in range(steps):
        GW1 = G @ W1
        loss = torch.trace(G) - 2 * (GW1 * W2.T).sum() + ((W1.T @ GW1) * (W2 @ W2.T)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    ae = linalg.train_linear_autoencoder(X, k, steps=steps, lr=lr, progress=False)
    np.testing.assert_allclose(W1.detach().numpy(), ae.W1, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(W2.detach().numpy(), ae.W2, rtol=1e-6, atol=1e-12)
    assert len(ae.losses) == steps + 1


def test_svd_sparse_tolerance_is_honoured():
    X = _matrix(n=200, d=40)
    exact = np.linalg.svd(X, compute_uv=False)[:5]
    loose, _ = linalg.svd_sparse(X, 5, tol=1e-5)
    tight, _ = linalg.svd_sparse(X, 5)
    assert np.max(np.abs(tight - exact) / exact) < 1e-10
    assert np.max(np.abs(loose - exact) / exact) < 1e-4


def test_svd_sparse_counted_matches_and_counts():
    X = _matrix(n=60, d=20)
    s_ref, _ = linalg.svd_sparse(X, 4)
    s, vt, counts = linalg.svd_sparse_counted(X, 4)
    assert np.allclose(s, s_ref, rtol=1e-6) and vt.shape == (4, 20)
    assert counts["X"] > 0 and counts["X^T"] > 0


def test_convergence_factor_is_geometric_mean():
    assert abs(linalg.convergence_factor([1.0, 0.1, 0.01]) - 0.1) < 1e-12
    assert np.isnan(linalg.convergence_factor([1.0]))


def test_svd_values_matches_full_svd():
    X = _matrix(n=40, d=9, seed=3)
    s_full, _ = linalg.svd_full(X, 4)
    s_vals, vt = linalg.svd_values(X, 4)
    assert vt is None and s_vals.shape == (4,)
    np.testing.assert_allclose(s_vals, s_full, rtol=1e-10)
    assert np.all(np.diff(s_vals) <= 0)


def test_solver_flops_counts():
    n, d = 1000, 50
    assert linalg.solver_flops("svds", n, d, 5, matvecs=10) == 10 * 2 * n * d
    assert linalg.solver_flops("gram eigh", n, d, 5) == n * d ** 2 + 4 * d ** 3 / 3
    assert linalg.solver_flops("svd", n, d, 5) > linalg.solver_flops("svd values", n, d, 5)
    # one more power iteration adds two products with X
    extra = linalg.solver_flops("randomized", n, d, 5, p=5, q=2) - linalg.solver_flops("randomized", n, d, 5, p=5, q=1)
    assert abs(extra - (2 * 2 * n * d * 10 + 4 * d * 100)) < 1e-6
    with pytest.raises(ValueError):
        linalg.solver_flops("qr", n, d, 5)
    with pytest.raises(ValueError):
        linalg.solver_flops("svd", 10, d, 5)


def test_ppca_inpaint_is_ridge_and_tends_to_least_squares():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3)) @ rng.standard_normal((3, 12)) + 0.05 * rng.standard_normal((300, 12))
    mu = X.mean(0)
    _, s, Vt = np.linalg.svd(X - mu, full_matrices=False)
    seen = np.ones(12, dtype=bool)
    seen[[2, 7]] = False
    var = s ** 2 / (len(X) - 1)
    ls = np.linalg.lstsq(Vt[:3, seen].T, (X[:5, seen] - mu[seen]).T, rcond=None)[0]
    np.testing.assert_allclose(linalg.ppca_inpaint(X[:5, seen], mu, Vt, var, seen, 3, 1e-12),
                               mu[~seen] + ls.T @ Vt[:3, ~seen], atol=1e-8)
    fill = linalg.ppca_inpaint(X[:5, seen], mu, Vt, var, seen, 3, var[3:].mean())
    assert fill.shape == (5, 2)
    assert np.mean((fill - X[:5, ~seen]) ** 2) < 0.1 * np.mean((mu[~seen] - X[:5, ~seen]) ** 2)
    # a huge ridge pulls the code to 0: the mean image
    np.testing.assert_allclose(linalg.ppca_inpaint(X[:5, seen], mu, Vt, var, seen, 3, 1e12), np.tile(mu[~seen], (5, 1)),
                               atol=1e-6)


def test_tie_margin_is_the_leaders_spread_with_a_single_run_fallback():
    a, b = {"runs": 3, "spread": 1.6}, {"runs": 3, "spread": 1.8}
    assert linalg.tie_margin(a, b) == pytest.approx(1.6) and linalg.tie_margin(b, a) == pytest.approx(1.8)
    assert linalg.tie_margin({"runs": 3, "spread": 1.1}, b) == pytest.approx(1.5)   # never below the 1.5x floor
    assert linalg.tie_margin({"runs": 1, "spread": 1.0}, a, floor=1.0) == pytest.approx(1.25)   # the single-run fallback
    assert linalg.tie_margin({"runs": 3, "spread": 1.3}, b, floor=1.0) == pytest.approx(1.3)
    # the read's case: eigh 0.46-0.60 s, randomized SVD 0.62 s best: 1.35x is within the floor, a tie
    assert 1.35 <= linalg.tie_margin({"runs": 3, "spread": 1.31}, {"runs": 3, "spread": 1.34})
    # the read's case: float32 runs 0.62-0.92 s (spread 1.49), float64 1.27-3.53 s: disjoint, no tie at 2.07x
    assert 2.07 > linalg.tie_margin({"runs": 3, "spread": 1.49}, {"runs": 3, "spread": 2.78})
    # randomized SVD's best 0.85 s is within float32's slowest 0.92 s: a tie at 1.37x
    assert 1.37 <= linalg.tie_margin({"runs": 3, "spread": 1.49}, {"runs": 3, "spread": 1.2})
    with pytest.raises(ValueError, match="runs >= 1 and spread >= 1"):
        linalg.tie_margin({"runs": 3, "spread": 0.9}, a)
    with pytest.raises(ValueError, match="a race entry"):
        linalg.tie_margin({"seconds": 1.0}, a)


def test_trained_once_trains_then_reuses_only_on_a_matching_record(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.setenv("NB_DATA_DIR", str(tmp_path))
    calls = []

    def build():
        torch.manual_seed(0)
        return torch.nn.Linear(3, 2)

    def train_fn(model):
        calls.append(1)
        with torch.no_grad():
            model.weight.add_(1.0)
        return {"losses": [0.5, 0.25]}

    m1, info1, reused1 = linalg.trained_once("toy", {"data": "a", "epochs": 2}, build, train_fn)
    m2, info2, reused2 = linalg.trained_once("toy", {"data": "a", "epochs": 2}, build, train_fn)
    assert (reused1, reused2, len(calls)) == (False, True, 1)
    assert info2 == {"losses": [0.5, 0.25]} and torch.equal(m1.weight, m2.weight)
    assert "reusing" in capsys.readouterr().out
    _, _, reused3 = linalg.trained_once("toy", {"data": "a", "epochs": 3}, build, train_fn)   # another recipe: trains again
    assert not reused3 and len(calls) == 2
    with pytest.raises(ValueError, match="expected name"):
        linalg.trained_once("", {"data": "a"}, build, train_fn)
    with pytest.raises(ValueError, match="expected made_from"):
        linalg.trained_once("toy", {}, build, train_fn)
