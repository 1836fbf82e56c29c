"""PCA through the SVD (introduced in notebook 06; notebook 05 uses it as its baseline).

X: (n, d) float array of n samples (rows). PCA of centred X = U S V^T keeps the top-k right
singular vectors V_k (d, k); the reconstruction is mean + (X - mean) V_k V_k^T, and by
Eckart-Young-Mirsky no rank-k approximation of the centred data has a smaller squared error.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check_matrix(X, k=None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64) if not isinstance(X, np.ndarray) or X.dtype.kind != "f" else X
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D (n samples, d features) array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf: remove or impute those entries first")
    if k is not None:
        if int(k) != k or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k}")
        if k > min(X.shape):
            raise ValueError(f"k={k} is larger than min(n, d) = {min(X.shape)} for X of shape {X.shape}")
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
    X_test = _check_matrix(X_test)
    return float(np.mean((model.reconstruct(X_test) - X_test) ** 2))
