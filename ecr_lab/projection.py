"""The projection step: ECR's only addition at inference.

At inference the teacher is gone. The compact student must choose its own cue tokens, so ECR maps
a cheap **student feature** of the input (default: the mean of its input token embeddings) into the
teacher's space with a small linear map ``W``, fitted once on training rows, and scores the result
against the anchors::

    z      = (f - mu_s) / sigma_s @ W + mu_t          # (d_s,) -> (d_t,)    the map
    cos_k  = <z / |z|, a_k>                           # (K,)                against unit anchors
    p      = softmax(cos / temperature)               # (K,)                scores
    cues   = top-m(p)                                 # (m,)                -> <ecr_i> tokens

Two maps, chosen with ``method``:

- ``"ridge"`` (default): ridge regression from standardised features to teacher rows, in closed
  form ``W = (X'X + alpha n I)^-1 X'Y``; the same map as scikit-learn's ``Ridge`` with an intercept,
  kept as plain arrays so it saves to safetensors and runs without scikit-learn.
- ``"procrustes"``: a *rotation* between the top-r principal subspaces of the two spaces
  (r = min(d_s, d_t, n-1)) plus one scale: PCA on each side is the learned dimension match, then
  orthogonal Procrustes aligns them. Fewer parameters, so it over-fits less on small data, but it
  can only rotate, not reshape.

**Cost.** Per input: one (d_s x d_t) and one (d_t x K) matrix-vector product; for a 128-wide
student, the 512-d offline teacher and K = 24 that is about 78 thousand multiply-adds, far below a
single transformer layer. ``bench/`` measures it as a latency ratio.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._io import atomic_write_json, check_format, read_json
from .anchors import AnchorSet, _unit, check_embeddings, check_m

FORMAT = "ecr_lab.projector"
FORMAT_VERSION = 1
METHODS = ("ridge", "procrustes")


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``."""
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


class AnchorProjector:
    """Maps student features to anchor scores and cue ids (see module docstring).

    Args:
        anchors: the :class:`~ecr_lab.anchors.AnchorSet` (K, d_t) to score against.
        method: ``"ridge"`` or ``"procrustes"``.
        alpha: ridge strength, relative to the number of rows (ignored by procrustes).
        temperature: default softmax temperature of :meth:`scores`.
    """

    def __init__(self, anchors: AnchorSet, method: str = "ridge", alpha: float = 1.0, temperature: float = 0.1):
        if method not in METHODS:
            raise ValueError(f"unknown projection method {method!r}; choose one of {METHODS}")
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        check_temperature(temperature)
        self.anchors = anchors
        self.method = method
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        self.mu_s: np.ndarray | None = None
        self.sigma_s: np.ndarray | None = None
        self.W: np.ndarray | None = None
        self.mu_t: np.ndarray | None = None
        self._torch_key = None

    # -- fitting -----------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.W is not None

    @property
    def in_dim(self) -> int:
        self._check_fitted()
        return int(self.W.shape[0])

    def fit(self, features: np.ndarray, teacher_embeddings: np.ndarray) -> AnchorProjector:
        """Fit the map on paired rows.

        Args:
            features: (n, d_s) student features of n training texts.
            teacher_embeddings: (n, d_t) teacher rows of the same texts, d_t = anchors.dim.
        """
        x = check_embeddings(features, "features").astype(np.float64)
        y = check_embeddings(teacher_embeddings, "teacher_embeddings", dim=self.anchors.dim).astype(np.float64)
        if len(x) != len(y):
            raise ValueError(f"mismatched lengths: {len(x)} feature rows but {len(y)} teacher rows; pair them row by row")
        if len(x) < 2:
            raise ValueError("the projector needs at least 2 paired rows to fit")
        y = _unit(y)
        self.mu_s = x.mean(0)
        self.sigma_s = x.std(0) + 1e-8
        xs = (x - self.mu_s) / self.sigma_s
        self.mu_t = y.mean(0)
        yc = y - self.mu_t
        n, d = xs.shape
        if self.method == "ridge":
            gram = xs.T @ xs + self.alpha * n * np.eye(d)
            self.W = np.linalg.solve(gram, xs.T @ yc)
        else:
            r = min(d, yc.shape[1], n - 1)
            ps = np.linalg.svd(xs, full_matrices=False)[2][:r].T  # (d_s, r) student principal axes
            pt = np.linalg.svd(yc, full_matrices=False)[2][:r].T  # (d_t, r) teacher principal axes
            a, b = xs @ ps, yc @ pt  # (n, r) each
            u, s, vt = np.linalg.svd(a.T @ b)
            rot = u @ vt  # orthogonal Procrustes solution (r, r)
            scale = s.sum() / max((a**2).sum(), 1e-12)
            self.W = scale * ps @ rot @ pt.T  # (d_s, d_t)
        self.W = self.W.astype(np.float32)
        self._torch_key = None
        return self

    def _check_fitted(self) -> None:
        if self.W is None:
            raise RuntimeError("the projector is not fitted; call fit(features, teacher_embeddings) first")

    # -- inference ---------------------------------------------------------------------------
    def transform(self, features: np.ndarray) -> np.ndarray:
        """Student features (n, d_s) -> unit rows in the teacher space (n, d_t)."""
        self._check_fitted()
        x = check_embeddings(features, "features", dim=None)
        if x.shape[1] != self.W.shape[0]:
            raise ValueError(
                f"dimension mismatch: features have width {x.shape[1]} but the projector was fitted on "
                f"{self.W.shape[0]}; use the same student feature as at fit time"
            )
        z = ((x - self.mu_s) / self.sigma_s).astype(np.float32) @ self.W + self.mu_t.astype(np.float32)
        return _unit(z).astype(np.float32)

    def scores(self, features: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """Softmax over cosines to the anchors. (n, d_s) -> (n, K), rows sum to 1."""
        t = self.temperature if temperature is None else check_temperature(temperature)
        cos = self.transform(features) @ self.anchors.vectors.T
        return softmax(cos / t, axis=1).astype(np.float32)

    def cues(self, features: np.ndarray, m: int = 1) -> np.ndarray:
        """Top-m anchor ids per row, best first. (n, d_s) -> (n, m) int64."""
        check_m(m, self.anchors.k)
        cos = self.transform(features) @ self.anchors.vectors.T
        return np.argsort(-cos, axis=1, kind="stable")[:, :m].astype(np.int64)

    def cues_torch(self, features, m: int = 1):
        """The same top-m cues, computed in torch on the features' device: (n, d_s) tensor -> (n, m) long.

        The inference path: no round trip to numpy (which on CPU also avoids numpy's BLAS threads
        competing with torch's), and it runs on the GPU next to the model.
        """
        import torch

        self._check_fitted()
        check_m(m, self.anchors.k)
        if features.shape[-1] != self.W.shape[0]:
            raise ValueError(f"dimension mismatch: features have width {features.shape[-1]}, the projector {self.W.shape[0]}")
        key = (str(features.device), features.dtype)
        if getattr(self, "_torch_key", None) != key:
            def t(a):
                return torch.as_tensor(np.asarray(a, dtype=np.float32), device=features.device).to(features.dtype)

            self._torch = (t(self.mu_s), t(self.sigma_s), t(self.W), t(self.mu_t), t(self.anchors.vectors))
            self._torch_key = key
        mu_s, sigma_s, w, mu_t, a = self._torch
        z = ((features - mu_s) / sigma_s) @ w + mu_t
        cos = torch.nn.functional.normalize(z, dim=-1) @ a.T
        return cos.topk(m, dim=-1).indices

    # -- persistence -------------------------------------------------------------------------
    def _write(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        self._check_fitted()
        save_file({"W": self.W, "mu_s": self.mu_s.astype(np.float32), "sigma_s": self.sigma_s.astype(np.float32),
                   "mu_t": self.mu_t.astype(np.float32)}, str(directory / "projector.safetensors"))
        atomic_write_json(directory / "projector.json", {
            "format": FORMAT, "format_version": FORMAT_VERSION, "method": self.method, "alpha": self.alpha,
            "temperature": self.temperature, "in_dim": int(self.W.shape[0]), "out_dim": int(self.W.shape[1]),
            "anchors_k": self.anchors.k, "teacher": self.anchors.teacher,
        })

    def save(self, directory: str | os.PathLike) -> Path:
        """Save the anchors and this projector together (atomically) in ``directory``."""
        return self.anchors.save(directory, projector=self)

    @classmethod
    def load(cls, directory: str | os.PathLike, anchors: AnchorSet | None = None) -> AnchorProjector:
        """Load a projector saved with its anchors; ``anchors`` defaults to the ones in ``directory``."""
        from safetensors.numpy import load_file

        directory = Path(directory)
        anchors = anchors if anchors is not None else AnchorSet.load(directory)
        meta = read_json(directory / "projector.json", "projector")
        check_format(meta, expected=FORMAT, version=FORMAT_VERSION, path=directory)
        if meta["anchors_k"] != anchors.k or meta["out_dim"] != anchors.dim:
            raise ValueError(
                f"{directory}: projector was fitted for K={meta['anchors_k']}, dim={meta['out_dim']} "
                f"but the anchors have K={anchors.k}, dim={anchors.dim}; refit the projector on these anchors"
            )
        try:
            t = load_file(str(directory / "projector.safetensors"))
        except Exception as e:
            raise ValueError(f"{directory}/projector.safetensors is missing or corrupt ({e}); fit and save again") from e
        p = cls(anchors, method=meta["method"], alpha=meta["alpha"], temperature=meta["temperature"])
        p.W, p.mu_s, p.sigma_s, p.mu_t = t["W"], t["mu_s"], t["sigma_s"], t["mu_t"]
        return p

    def __repr__(self) -> str:
        shape = f"{self.W.shape[0]}->{self.W.shape[1]}" if self.fitted else "unfitted"
        return f"AnchorProjector(method={self.method!r}, {shape}, K={self.anchors.k}, temperature={self.temperature})"


def check_temperature(t: float) -> float:
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {t}")
    return float(t)
