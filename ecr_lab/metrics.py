"""Metrics of collapse, drift and stability: pure functions, numpy arrays in, floats or small tables out.

Each docstring gives the formula and which way is "collapsed". ``X`` is always an (n, d) matrix of
embeddings (one row per text); ``T`` a teacher matrix with the same rows.

========================= ============================== ===================================
metric                    healthy                        collapsed
========================= ============================== ===================================
anisotropy                near 0                         near 1 (all rows point one way)
effective_rank            high (up to min(n, d))         near 1
linear_cka (to teacher)   high (up to 1)                 near 0
knn_overlap (to teacher)  high                           near 0
anchor_agreement          high                           near chance (1/K)
retrieval_at_1            high (translations found)      near 0
cross_lingual_transfer    high (topic head transfers)    near majority rate
topic_probe               high (meaning readable)        near majority rate
language_probe            (diagnostic)                   near 1 (language dominates)
silhouette_topic          > 0                            <= 0
silhouette_language       <= 0 in a multilingual space   > 0 (clusters by language)
drift_cka                 near 0 (stable)                large (geometry changed)
========================= ============================== ===================================
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .vectors import check_embeddings, l2_normalize

#: which direction is better for each collapse metric (a column of ``experiment.space_metrics``);
#: charts and tables say it beside the metric's name
METRIC_DIRECTION: dict[str, str] = {
    "topic_probe": "higher",
    "cross_lingual_transfer": "higher",
    "retrieval_at_1": "higher",
    "language_probe": "lower",
    "silhouette_topic": "higher",
    "silhouette_language": "lower",
    "cka_to_teacher": "higher",
    "knn_overlap_to_teacher": "higher",
    "anisotropy": "lower",
    "effective_rank": "higher",
}


def _mat(x, name: str = "X") -> np.ndarray:
    return check_embeddings(x, name, dtype=np.float64, nonzero_rows=False)


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = _mat(x, "X"), _mat(y, "Y")
    if len(x) != len(y):
        raise ValueError(f"mismatched lengths: X has {len(x)} rows, Y has {len(y)}; the rows must be the same texts")
    return x, y


def anisotropy(X, n_pairs: int = 5000, seed: int = 0) -> float:
    """Mean cosine of random pairs of distinct rows: E[cos(x_i, x_j)], i != j.

    Isotropic embeddings give ~0; collapsed ones (all rows in a narrow cone) give ~1.
    Exact over all pairs when n is small, else over ``n_pairs`` random pairs.
    """
    x = l2_normalize(_mat(X))
    n = len(x)
    if n < 2:
        raise ValueError("anisotropy needs at least 2 rows")
    if n * (n - 1) // 2 <= n_pairs:
        s = x.sum(0)
        return float((s @ s - n) / (n * (n - 1)))
    rng = np.random.default_rng(seed)
    i = rng.integers(n, size=n_pairs)
    j = (i + rng.integers(1, n, size=n_pairs)) % n
    return float(np.mean(np.sum(x[i] * x[j], axis=1)))


def effective_rank(X) -> float:
    """exp(H(p)), p = normalised singular values of the centred matrix (Roy & Vetterli, 2007).

    Ranges from 1 (everything on one line: collapsed) to min(n, d) (variance spread evenly).
    """
    x = _mat(X)
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    total = s.sum()
    if total <= 0:
        return 1.0
    p = s[s > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def linear_cka(X, Y) -> float:
    """Linear CKA (Kornblith et al., 2019): ||Yc'Xc||_F^2 / (||Xc'Xc||_F ||Yc'Yc||_F), in [0, 1].

    Invariant to rotations and isotropic scaling of either side; 1 = same geometry up to those,
    0 = unrelated. X (n, d1) and Y (n, d2) rows are the same texts.
    """
    x, y = _pair(X, Y)
    x = x - x.mean(0)
    y = y - y.mean(0)
    # Gram form when n is small relative to the widths, feature form otherwise (same value)
    if len(x) < max(x.shape[1], y.shape[1]):
        kx, ky = x @ x.T, y @ y.T
        num, dx, dy = (kx * ky).sum(), np.linalg.norm(kx), np.linalg.norm(ky)
    else:
        num = np.linalg.norm(y.T @ x) ** 2
        dx, dy = np.linalg.norm(x.T @ x), np.linalg.norm(y.T @ y)
    if dx == 0 or dy == 0:
        return 0.0
    return float(np.clip(num / (dx * dy), 0.0, 1.0))


def _knn(x: np.ndarray, k: int) -> np.ndarray:
    sims = l2_normalize(x) @ l2_normalize(x).T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def knn_overlap(X, Y, k: int = 10) -> float:
    """Mean over rows of |N_k^X(i) ∩ N_k^Y(i)| / k, neighbours by cosine (self excluded).

    1 = both spaces agree on every neighbourhood; ~k/(n-1) = unrelated (collapsed student vs teacher).
    """
    x, y = _pair(X, Y)
    if not 1 <= k < len(x):
        raise ValueError(f"k must be in [1, n-1={len(x) - 1}], got {k}")
    nx, ny = _knn(x, k), _knn(y, k)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(nx, ny, strict=True)]))


def anchor_agreement(projected_top1, teacher_top1) -> float:
    """Share of rows whose projected top-1 anchor equals the teacher's top-1 anchor.

    Chance is about 1/K; the projection step is only as good as this number.
    """
    a, b = np.asarray(projected_top1).reshape(-1), np.asarray(teacher_top1).reshape(-1)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"mismatched lengths: {len(a)} projected vs {len(b)} teacher anchors (need n > 0 each)")
    return float(np.mean(a == b))


def retrieval_at_1(X, pair_ids: Sequence, langs: Sequence) -> float:
    """Cross-lingual retrieval@1: for each row with a pair_id, is its nearest row (cosine) among the
    rows of *other* languages one of its translations? Mean over rows that have a translation.

    1 = every translation found (a language-agnostic space); near 0 = language dominates.
    """
    x = l2_normalize(_mat(X))
    pid = np.asarray(pair_ids, dtype=object)
    lang = np.asarray(langs, dtype=object)
    if not len(pid) == len(lang) == len(x):
        raise ValueError(f"mismatched lengths: X {len(x)}, pair_ids {len(pid)}, langs {len(lang)}")
    sims = x @ x.T
    same_lang = lang[:, None] == lang[None, :]
    sims[same_lang] = -np.inf
    has = np.array([p is not None for p in pid])
    match = (pid[:, None] == pid[None, :]) & ~same_lang & has[:, None]
    rows = np.flatnonzero(match.any(1))
    if len(rows) == 0:
        raise ValueError("no row has a translation in another language; retrieval needs pair_ids across languages")
    best = sims[rows].argmax(1)
    return float(np.mean(match[rows, best]))


#: a probe split by meaning unit needs at least this many units of every label on each side
MIN_UNITS_PER_SIDE = 2


def group_split(labels: np.ndarray, groups: np.ndarray, test_size: float = 0.3, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Held-out split by group (a meaning unit never straddles it): (train rows, test rows).

    When every group has a single label (topics: a unit has one topic), each label keeps about
    ``test_size`` of its groups in test, never fewer than :data:`MIN_UNITS_PER_SIDE` on either
    side; when groups mix labels (languages: a unit spans them all), whole groups are drawn at
    random. Raises ValueError when a label has too few groups on a side.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"y": labels, "g": groups})
    units = frame.drop_duplicates()
    test_groups: set = set()
    if units["g"].is_unique:  # one label per group: stratify by label
        for _y, grp in units.groupby("y", sort=True):
            g = sorted(grp["g"])
            n_test = int(np.clip(round(len(g) * test_size), MIN_UNITS_PER_SIDE, len(g) - MIN_UNITS_PER_SIDE))
            test_groups.update(g[i] for i in rng.permutation(len(g))[:n_test])
    else:
        g = sorted(units["g"].unique())
        test_groups.update(g[i] for i in rng.permutation(len(g))[: int(round(len(g) * test_size))])
    is_test = frame["g"].isin(test_groups).to_numpy()
    for side, rows in (("training", ~is_test), ("held-out", is_test)):
        per_label = frame[rows].groupby("y")["g"].nunique().reindex(sorted(set(labels)), fill_value=0)
        few = per_label[per_label < MIN_UNITS_PER_SIDE]
        if len(few):
            total = units.groupby("y")["g"].nunique()
            raise ValueError(
                f"a probe split by meaning unit needs at least {MIN_UNITS_PER_SIDE} meaning units of every label "
                f"on each side; label {few.index[0]!r} has {int(few.iloc[0])} on the {side} side "
                f"({int(total[few.index[0]])} in all). Use a larger set (at least "
                f"{2 * MIN_UNITS_PER_SIDE} units per label) or drop that label")
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def probe_accuracy(X, labels: Sequence, groups: Sequence | None = None, test_size: float = 0.3, seed: int = 0) -> float:
    """Held-out accuracy of a logistic-regression probe predicting ``labels`` from X.

    The split is by ``groups`` when given (e.g. pair_id, so a translation of a test sentence is never
    seen in training; see :func:`group_split`, which refuses labels with fewer than 2 units on a
    side), else stratified by label, holding out about ``test_size``. Compare with the majority
    rate (:func:`majority_rate`).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _mat(X)
    y = np.asarray(labels, dtype=object)
    if len(y) != len(x):
        raise ValueError(f"mismatched lengths: X {len(x)} rows, labels {len(y)}")
    keep = np.array([v is not None for v in y])
    x, y = x[keep], y[keep].astype(str)
    if len(np.unique(y)) < 2:
        raise ValueError("a probe needs at least 2 distinct labels")
    if groups is not None:
        tr, te = group_split(y, np.asarray(groups, dtype=object)[keep].astype(str), test_size, seed)
    else:
        tr, te = train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed, stratify=y)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    clf.fit(x[tr], y[tr])
    return float(np.mean(clf.predict(x[te]) == y[te]))


def topic_probe(X, topics, pair_ids=None, seed: int = 0) -> float:
    """Topic accuracy of a held-out logistic probe (split by pair_id): meaning readable from X. Higher is better."""
    return probe_accuracy(X, topics, groups=pair_ids, seed=seed)


def language_probe(X, langs, pair_ids=None, seed: int = 0) -> float:
    """Language accuracy of a held-out logistic probe: near 1 means language dominates the space."""
    return probe_accuracy(X, langs, groups=pair_ids, seed=seed)


def cross_lingual_transfer(X, topics: Sequence, langs: Sequence, source: str = "en") -> float:
    """Zero-shot cross-lingual topic transfer: a logistic topic head trained on the ``source``
    language's rows only, accuracy on all *other* languages' rows.

    The paper's "semantic task" in its multilingual form: high only when a topic lives in the same
    region whatever the language (near the majority rate when language dominates).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _mat(X)
    y = np.asarray(topics, dtype=object)
    lang = np.asarray(langs, dtype=object)
    if not len(y) == len(lang) == len(x):
        raise ValueError(f"mismatched lengths: X {len(x)}, topics {len(y)}, langs {len(lang)}")
    has = np.array([v is not None for v in y])
    src, tgt = has & (lang == source), has & (lang != source)
    if src.sum() < 2 or tgt.sum() == 0:
        raise ValueError(f"cross-lingual transfer needs labelled rows in {source!r} and in other languages")
    if len(np.unique(y[src].astype(str))) < 2:
        raise ValueError("cross-lingual transfer needs at least 2 topics in the source language")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    clf.fit(x[src], y[src].astype(str))
    return float(np.mean(clf.predict(x[tgt]) == y[tgt].astype(str)))


def majority_rate(labels: Sequence) -> float:
    """Share of the most frequent label: the accuracy a probe gets by guessing."""
    s = pd.Series(np.asarray(labels, dtype=object)).dropna()
    return float(s.value_counts().iloc[0] / len(s)) if len(s) else float("nan")


def silhouette(X, labels: Sequence, sample: int = 2000, seed: int = 0) -> float:
    """Cosine silhouette of X grouped by ``labels`` (on a random sample of rows), in [-1, 1].

    By topic: > 0 means topics form regions (healthy). By language: > 0 means languages do (collapse
    toward language).
    """
    from sklearn.metrics import silhouette_score

    x = _mat(X)
    y = np.asarray(labels, dtype=object)
    keep = np.flatnonzero([v is not None for v in y])
    rng = np.random.default_rng(seed)
    idx = rng.permutation(keep)[: min(sample, len(keep))]
    if len(np.unique(y[idx].astype(str))) < 2:
        raise ValueError("silhouette needs at least 2 distinct labels in the sample")
    return float(silhouette_score(x[idx], y[idx].astype(str), metric="cosine"))


def procrustes_disparity(X, Y) -> float:
    """Orthogonal Procrustes disparity after centring and scaling both to unit Frobenius norm, in [0, 1].

    min_R ||X R - Y||_F^2 (X padded with zero columns to Y's width): 0 = same shape up to rotation,
    translation and scale; 1 = nothing in common.
    """
    x, y = _pair(X, Y)
    d = max(x.shape[1], y.shape[1])
    x = np.pad(x, ((0, 0), (0, d - x.shape[1])))
    y = np.pad(y, ((0, 0), (0, d - y.shape[1])))
    x, y = x - x.mean(0), y - y.mean(0)
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        return 1.0
    x, y = x / nx, y / ny
    s = np.linalg.svd(x.T @ y, compute_uv=False)
    return float(np.clip(1.0 - s.sum() ** 2, 0.0, 1.0))


def drift_cka(X_before, X_after) -> float:
    """1 - linear CKA between two checkpoints' embeddings of the same texts; 0 = unchanged geometry."""
    return 1.0 - linear_cka(X_before, X_after)


def knn_churn(X_before, X_after, k: int = 10) -> float:
    """Share of each text's k nearest neighbours that changed between two checkpoints' embeddings
    of the same texts: 1 - :func:`knn_overlap`. 0 = every neighbourhood kept; it moves where the
    global geometry (CKA) hardly does, which is why claim C1 reads it."""
    return 1.0 - knn_overlap(X_before, X_after, k=k)


def drift(X_before, X_after) -> dict[str, float]:
    """Drift between two checkpoints' embeddings of the same texts, both ways of measuring it.

    Returns ``{"drift_cka": 1 - CKA, "procrustes_disparity": ...}``; 0 = unchanged geometry.
    """
    return {"drift_cka": drift_cka(X_before, X_after), "procrustes_disparity": procrustes_disparity(X_before, X_after)}


def loss_spikes(loss: Sequence[float], factor: float = 1.5, window: int = 20) -> int:
    """Steps whose loss exceeds ``factor`` x the running median of the previous ``window`` steps."""
    x = np.asarray(loss, dtype=np.float64)
    count = 0
    for t in range(1, len(x)):
        prev = x[max(0, t - window) : t]
        prev = prev[np.isfinite(prev)]
        if len(prev) and np.isfinite(x[t]) and x[t] > factor * np.median(prev):
            count += 1
    return count


def stability_summary(grad_norm: Sequence[float], loss: Sequence[float], factor: float = 1.5, window: int = 20) -> dict[str, float]:
    """Training stability of a run (meant for runs with gradient clipping off).

    Returns grad_norm_max, grad_norm_p99_over_median (heavy tail of gradient norms), loss_spikes
    (steps above ``factor`` x running median of the last ``window`` losses), nonfinite_steps (NaN/inf
    loss or grad norm). Lower is more stable for all four.
    """
    g = np.asarray(grad_norm, dtype=np.float64)
    los = np.asarray(loss, dtype=np.float64)
    if len(g) == 0 or len(los) == 0:
        raise ValueError("stability_summary needs at least one step of grad_norm and loss")
    gf = g[np.isfinite(g)]
    med = float(np.median(gf)) if len(gf) else float("nan")
    return {
        "grad_norm_max": float(gf.max()) if len(gf) else float("nan"),
        "grad_norm_p99_over_median": float(np.percentile(gf, 99) / med) if len(gf) and med > 0 else float("nan"),
        "loss_spikes": float(loss_spikes(los, factor, window)),
        "nonfinite_steps": float((~np.isfinite(g)).sum() + (~np.isfinite(los)).sum()),
    }


def geometry_report(X, corpus=None, teacher=None, k: int = 10, seed: int = 0) -> dict[str, float]:
    """Every embedding metric at once for X (n, d), with labels from ``corpus`` and, when given,
    comparisons to ``teacher`` (n, d_t). One dict, names say the direction."""
    out = {"anisotropy": anisotropy(X, seed=seed), "effective_rank": effective_rank(X)}
    if corpus is not None:
        if len(corpus) != len(np.asarray(X)):
            raise ValueError(f"mismatched lengths: corpus {len(corpus)} rows, X {len(np.asarray(X))}")
        topics, langs, pids = corpus.topic_labels, corpus.langs, corpus.pair_ids
        if len(set(langs)) > 1 and any(p is not None for p in pids):
            out["retrieval_at_1"] = retrieval_at_1(X, pids, langs)
        if len({t for t in topics if t is not None}) > 1:
            out["topic_probe"] = topic_probe(X, topics, pids, seed=seed)
            out["silhouette_topic"] = silhouette(X, topics, seed=seed)
            if "en" in set(langs) and len(set(langs)) > 1:
                out["cross_lingual_transfer"] = cross_lingual_transfer(X, topics, langs, source="en")
        if len(set(langs)) > 1:
            out["language_probe"] = language_probe(X, langs, pids, seed=seed)
            out["silhouette_language"] = silhouette(X, langs, seed=seed)
    if teacher is not None:
        out["cka_to_teacher"] = linear_cka(X, teacher)
        out["knn_overlap_to_teacher"] = knn_overlap(X, teacher, k=min(k, len(np.asarray(X)) - 1))
    return out
