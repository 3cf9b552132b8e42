"""Row vectors: the one matrix check and the one row normalisation every module uses.

``check_embeddings`` is the validation a user meets first (shape, dtype, NaN/inf, all-zero rows,
width), so its messages name the problem and the fix; ``l2_normalize`` is the maths alone, with no
validation (scikit-learn keeps the two apart the same way).
"""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length, float32 unless ``x`` is float64. (n, d) -> (n, d)."""
    x = np.asarray(x)
    if x.dtype != np.float64:
        x = x.astype(np.float32, copy=False)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def check_embeddings(x, name: str = "embeddings", dim: int | None = None, *, dtype=np.float32,
                     nonzero_rows: bool = True) -> np.ndarray:
    """Validate an (n, d) numeric matrix and return it as ``dtype``.

    Checks: 2-D, at least one row, numeric, every entry finite, (``nonzero_rows``) no all-zero row,
    and (``dim``) width ``dim``. Raises ValueError naming the problem and the fix.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d); got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} has no rows; encode a non-empty corpus first")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    x = x.astype(dtype, copy=False)
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"{name} has {len(bad)} row(s) with NaN or inf (first: row {bad[0]}); "
                         "re-encode those texts or drop them")
    if nonzero_rows:
        zero = np.flatnonzero(~x.any(axis=1))
        if len(zero):
            raise ValueError(f"{name} has {len(zero)} all-zero row(s) (first: row {zero[0]}); "
                             "they have no direction, drop them")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"dimension mismatch: {name} has width {x.shape[1]} but the anchors have {dim}; "
                         "use embeddings from the same teacher that derived the anchors")
    return x
