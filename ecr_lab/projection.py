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
- ``"classifier"``: a K-way logistic regression from standardised features to the teacher's
  top-1 anchor of each row (the offline teacher assignment). It does not map into the teacher
  space at all: it learns the decision the cues need. Its logits x 0.1 play the role of the
  cosines, so ``scores(T=0.1)`` are the classifier's own probabilities.
- ``"kd_head"``: nothing fitted at all: the distillation head that KD trains (pooled last hidden
  state -> predicted teacher embedding, :mod:`ecr_lab.distillation`) *is* a map into the teacher
  space; the cues are the nearest anchors of its prediction (:meth:`AnchorProjector.from_linear_map`).
  It reads the last hidden state, so it costs one forward pass more at inference.

**Cost.** Per input: one (d_s x d_t) and one (d_t x K) matrix-vector product; for a 128-wide
student, the 512-d offline teacher and K = 24 that is about 78 thousand multiply-adds, far below a
single transformer layer. ``bench/`` measures it as a latency ratio.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._io import atomic_dir, atomic_write_json, check_format, read_json
from .anchors import AnchorSet, check_m
from .vectors import check_embeddings, l2_normalize

FORMAT = "ecr_lab.projector"
FORMAT_VERSION = 1
METHODS = ("ridge", "procrustes", "classifier", "kd_head")
#: the classifier's logits are scaled by this so that temperature 0.1 gives its own probabilities
CLASSIFIER_SCALE = 0.1


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``."""
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


class NotFittedError(ValueError, AttributeError):
    """A projector used before :meth:`AnchorProjector.fit` (as scikit-learn's ``NotFittedError``)."""


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
        self.mu_s_: np.ndarray | None = None
        self.sigma_s_: np.ndarray | None = None
        self.W_: np.ndarray | None = None
        self.mu_t_: np.ndarray | None = None
        self.b_: np.ndarray | None = None  # classifier intercepts (K,)
        self._torch_key = None

    # -- fitting -----------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.W_ is not None

    @property
    def in_dim(self) -> int:
        self._check_fitted()
        return int(self.W_.shape[0])

    def fit(self, features: np.ndarray, teacher_embeddings: np.ndarray) -> AnchorProjector:
        """Fit the map on paired rows.

        Args:
            features: (n, d_s) student features of n training texts.
            teacher_embeddings: (n, d_t) teacher rows of the same texts, d_t = anchors.dim.
        """
        if self.method == "kd_head":
            raise ValueError("a kd_head projector is not fitted: it is the distillation head itself; build it with "
                             "AnchorProjector.from_linear_map(anchors, head.weight, head.bias)")
        x = check_embeddings(features, "features").astype(np.float64)
        y = check_embeddings(teacher_embeddings, "teacher_embeddings", dim=self.anchors.dim).astype(np.float64)
        if len(x) != len(y):
            raise ValueError(f"mismatched lengths: {len(x)} feature rows but {len(y)} teacher rows; pair them row by row")
        if len(x) < 2:
            raise ValueError("the projector needs at least 2 paired rows to fit")
        y = l2_normalize(y)
        self.mu_s_ = x.mean(0)
        self.sigma_s_ = x.std(0) + 1e-8
        xs = (x - self.mu_s_) / self.sigma_s_
        self.mu_t_ = y.mean(0)
        yc = y - self.mu_t_
        n, d = xs.shape
        if self.method == "ridge":
            gram = xs.T @ xs + self.alpha * n * np.eye(d)
            self.W_ = np.linalg.solve(gram, xs.T @ yc)
        elif self.method == "procrustes":
            r = min(d, yc.shape[1], n - 1)
            ps = np.linalg.svd(xs, full_matrices=False)[2][:r].T  # (d_s, r) student principal axes
            pt = np.linalg.svd(yc, full_matrices=False)[2][:r].T  # (d_t, r) teacher principal axes
            a, b = xs @ ps, yc @ pt  # (n, r) each
            u, s, vt = np.linalg.svd(a.T @ b)
            rot = u @ vt  # orthogonal Procrustes solution (r, r)
            scale = s.sum() / max((a**2).sum(), 1e-12)
            self.W_ = scale * ps @ rot @ pt.T  # (d_s, d_t)
        else:
            self.W_, self.b_ = self._fit_classifier(xs, self.anchors.assign(y.astype(np.float32), 1)[0][:, 0])
        # keep exactly what save() writes (float32), so a reloaded projector picks the same cues
        self.W_ = self.W_.astype(np.float32)
        self.mu_s_, self.sigma_s_, self.mu_t_ = (a.astype(np.float32) for a in (self.mu_s_, self.sigma_s_, self.mu_t_))
        self._torch_key = None
        return self

    @classmethod
    def from_linear_map(cls, anchors: AnchorSet, weight, bias, temperature: float = 0.1) -> AnchorProjector:
        """A ``"kd_head"`` projector from a trained linear map into the teacher space: ``weight``
        (d_t, d_s) and ``bias`` (d_t,) as ``torch.nn.Linear`` stores them (e.g. the KD head). The
        features are not standardised: the map reads them as it was trained to."""
        w = np.asarray(weight.detach().cpu() if hasattr(weight, "detach") else weight, dtype=np.float32)
        b = np.asarray(bias.detach().cpu() if hasattr(bias, "detach") else bias, dtype=np.float32)
        if w.ndim != 2 or w.shape[0] != anchors.dim or b.shape != (anchors.dim,):
            raise ValueError(f"dimension mismatch: the map must be (d_t={anchors.dim}, d_s) with a ({anchors.dim},) "
                             f"bias, got {w.shape} and {b.shape}")
        p = cls(anchors, method="kd_head", temperature=temperature)
        p.W_, p.mu_t_ = np.ascontiguousarray(w.T), b
        p.mu_s_, p.sigma_s_ = np.zeros(w.shape[1], np.float32), np.ones(w.shape[1], np.float32)
        return p

    def _fit_classifier(self, xs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Multinomial logistic regression (scikit-learn) -> W (d_s, K), b (K,); anchors never seen
        as a top-1 label get a very low intercept."""
        from sklearn.linear_model import LogisticRegression

        classes = np.unique(labels)
        if len(classes) < 2:
            raise ValueError("the classifier projection needs rows assigned to at least 2 different anchors")
        clf = LogisticRegression(C=1.0 / max(self.alpha, 1e-6), max_iter=1000).fit(xs, labels)
        w = np.zeros((xs.shape[1], self.anchors.k))
        b = np.full(self.anchors.k, -1e4)
        coef = clf.coef_ if len(classes) > 2 else np.vstack([-clf.coef_, clf.coef_]) / 2
        icpt = clf.intercept_ if len(classes) > 2 else np.array([-clf.intercept_[0], clf.intercept_[0]]) / 2
        w[:, clf.classes_] = coef.T
        b[clf.classes_] = icpt
        return w, b.astype(np.float32)

    def _similarity(self, features: np.ndarray) -> np.ndarray:
        """Cosines to the anchors (maps) or scaled logits (classifier). (n, d_s) -> (n, K)."""
        if self.method == "classifier":
            x = self._standardise(features)
            return (x @ self.W_ + self.b_) * CLASSIFIER_SCALE
        return self.transform(features) @ self.anchors.vectors.T

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        self._check_fitted()
        x = check_embeddings(features, "features", dim=None)
        if x.shape[1] != self.W_.shape[0]:
            raise ValueError(
                f"dimension mismatch: features have width {x.shape[1]} but the projector was fitted on "
                f"{self.W_.shape[0]}; use the same student feature as at fit time"
            )
        return ((x - self.mu_s_) / self.sigma_s_).astype(np.float32)

    def _check_fitted(self) -> None:
        if self.W_ is None:
            raise NotFittedError("this AnchorProjector is not fitted yet; call fit(features, teacher_embeddings) "
                                 "before using it")

    # -- inference ---------------------------------------------------------------------------
    def transform(self, features: np.ndarray) -> np.ndarray:
        """Student features (n, d_s) -> unit rows in the teacher space (n, d_t) (ridge / procrustes)."""
        if self.method == "classifier":
            raise ValueError("the classifier projection scores anchors directly; it has no map into the teacher space")
        z = self._standardise(features) @ self.W_ + self.mu_t_.astype(np.float32)
        return l2_normalize(z).astype(np.float32)

    def scores(self, features: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """Softmax over cosines to the anchors (or scaled logits). (n, d_s) -> (n, K), rows sum to 1."""
        t = self.temperature if temperature is None else check_temperature(temperature)
        return softmax(self._similarity(features) / t, axis=1).astype(np.float32)

    def cues(self, features: np.ndarray, m: int = 1) -> np.ndarray:
        """Top-m anchor ids per row, best first. (n, d_s) -> (n, m) int64."""
        check_m(m, self.anchors.k)
        return np.argsort(-self._similarity(features), axis=1, kind="stable")[:, :m].astype(np.int64)

    def cues_torch(self, features, m: int = 1):
        """The same top-m cues, computed in torch on the features' device: (n, d_s) tensor -> (n, m) long.

        The inference path: no round trip to numpy (which on CPU also avoids numpy's BLAS threads
        competing with torch's), and it runs on the GPU next to the model.
        """
        import torch

        self._check_fitted()
        check_m(m, self.anchors.k)
        if features.shape[-1] != self.W_.shape[0]:
            raise ValueError(f"dimension mismatch: features have width {features.shape[-1]}, the projector {self.W_.shape[0]}")
        key = (str(features.device), features.dtype)
        if getattr(self, "_torch_key", None) != key:
            # the standardisation folded into the map: ((f - mu) / sigma) @ W + c = f @ W' + c', one addmm
            w = self.W_.astype(np.float64) / self.sigma_s_.astype(np.float64)[:, None]
            extra = (self.b_ if self.method == "classifier" else self.mu_t_).astype(np.float64)
            c = extra - (self.mu_s_.astype(np.float64) / self.sigma_s_.astype(np.float64)) @ self.W_.astype(np.float64)

            def t(a):
                return torch.as_tensor(np.asarray(a, dtype=np.float32), device=features.device).to(features.dtype)

            self._torch = (t(w), t(c), t(self.anchors.vectors))
            self._torch_key = key
        w, c, a = self._torch
        z = torch.addmm(c, features, w)
        sim = z if self.method == "classifier" else torch.nn.functional.normalize(z, dim=-1) @ a.T
        return sim.topk(m, dim=-1).indices

    # -- persistence -------------------------------------------------------------------------
    def write_into(self, folder: Path) -> None:
        """Write ``projector.safetensors`` + ``projector.json`` into an existing ``folder``."""
        from safetensors.numpy import save_file

        self._check_fitted()
        tensors = {"W": self.W_, "mu_s": self.mu_s_.astype(np.float32), "sigma_s": self.sigma_s_.astype(np.float32),
                   "mu_t": self.mu_t_.astype(np.float32)}
        if self.b_ is not None:
            tensors["b"] = self.b_.astype(np.float32)
        save_file(tensors, str(Path(folder) / "projector.safetensors"))
        atomic_write_json(Path(folder) / "projector.json", {
            "format": FORMAT, "format_version": FORMAT_VERSION, "method": self.method, "alpha": self.alpha,
            "temperature": self.temperature, "in_dim": int(self.W_.shape[0]), "out_dim": int(self.anchors.dim),
            "anchors_k": self.anchors.k, "teacher": self.anchors.teacher,
        })

    def save(self, directory: str | os.PathLike) -> Path:
        """Save the anchors and this projector together in ``directory``, atomically."""
        directory = Path(directory)
        with atomic_dir(directory) as tmp:
            self.anchors.write_into(tmp)
            self.write_into(tmp)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, anchors: AnchorSet | None = None) -> AnchorProjector:
        """Load a projector saved with its anchors; ``anchors`` defaults to the ones in ``directory``."""
        from safetensors import SafetensorError
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
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"{directory}/projector.safetensors is missing or corrupt ({e}); fit and save again") from e
        p = cls(anchors, method=meta["method"], alpha=meta["alpha"], temperature=meta["temperature"])
        p.W_, p.mu_s_, p.sigma_s_, p.mu_t_, p.b_ = t["W"], t["mu_s"], t["sigma_s"], t["mu_t"], t.get("b")
        return p

    def __repr__(self) -> str:
        shape = f"{self.W_.shape[0]}->{self.W_.shape[1]}" if self.fitted else "unfitted"
        return f"AnchorProjector(method={self.method!r}, {shape}, K={self.anchors.k}, temperature={self.temperature})"


def check_temperature(t: float) -> float:
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {t}")
    return float(t)


def load_bundle(directory: str | os.PathLike) -> tuple[AnchorSet, AnchorProjector | None]:
    """(anchors, projector or None) from a folder written by :meth:`AnchorSet.save` or
    :meth:`AnchorProjector.save`."""
    anchors = AnchorSet.load(directory)
    has_projector = (Path(directory) / "projector.json").exists()
    return anchors, (AnchorProjector.load(directory, anchors) if has_projector else None)
