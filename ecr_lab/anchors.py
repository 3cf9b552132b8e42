"""Semantic anchors: ECR's fixed reference points in the teacher's embedding space.

ECR derives a set of K **anchors** from teacher embeddings **once, offline**. We use spherical
k-means: rows are unit vectors, each anchor is the (re-normalised) mean direction of the rows
closest to it by cosine, and the objective is ``sum_i (1 - max_k cos(x_i, a_k))``.

scikit-learn has no spherical k-means, so :func:`spherical_kmeans` runs scikit-learn's ``KMeans``
on the unit rows (its seeding and restarts), puts the centres back on the sphere and refines them
with a few spherical Lloyd steps (a dozen lines of numpy). ``bench/anchor_derivation.py`` compares
it with scikit-learn and faiss for time and inertia.

An :class:`AnchorSet` can be read by a person (:meth:`AnchorSet.describe`: size, nearest
exemplars per language, topic and language make-up), assigns the top-m anchors of any teacher
row (:meth:`AnchorSet.assign`: the *teacher cues* used in training), and is saved with
safetensors + JSON metadata.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ._io import atomic_dir, atomic_write_json, check_format, read_json
from .vectors import check_embeddings, l2_normalize

FORMAT = "ecr_lab.anchors"
FORMAT_VERSION = 1
#: how anchors are derived; a saved set of another derivation is derived again, never reused.
#: 2: the spherical Lloyd refinement runs (in 1 it stopped before its first step)
DERIVATION_VERSION = 2


def _spherical_lloyd(x: np.ndarray, centers: np.ndarray, max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Lloyd iterations of the spherical objective from ``centers`` (k, d): assign by cosine, move each
    centre to the normalised mean of its rows. Never increases sum(1 - cos).

    Returns the final centres (k, d), their assignment (n,) and inertia."""
    k = len(centers)
    prev = np.inf
    for it in range(max_iter + 1):
        sims = x @ centers.T  # (n, k)
        labels = sims.argmax(1)
        inertia = float(np.sum(1.0 - sims[np.arange(len(x)), labels]))
        if it == max_iter or (it > 0 and prev - inertia <= tol * max(prev, 1.0)):
            break  # (no test before the first step: inf - inertia <= tol * inf would stop it there)
        prev = inertia
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, x)
        empty = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
        if len(empty):  # re-seed an empty cluster with the worst-served rows
            sums[empty] = x[np.argsort(sims[np.arange(len(x)), labels])[: len(empty)]]
        centers = l2_normalize(sums).astype(np.float32)
    return centers, labels, inertia


def lloyd_step(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """One spherical Lloyd step, exactly the step :func:`derive_anchors` repeats after scikit-learn's seeding.

    Each row goes to the centre of largest cosine (``(x @ centers.T).argmax(1)``); each centre becomes the
    normalised sum (the mean direction) of its rows. A centre that owns no row is re-seeded on the row
    worst served by its own centre, the one whose largest cosine is smallest (the 2nd worst for a 2nd
    empty centre, and so on). The step never raises ``sum_i (1 - max_k cos(x_i, c_k))``.

    Args:
        x: (n, d) unit rows.
        centers: (k, d) unit centres.

    Returns:
        (k, d) float32 unit rows: the new centres, in the same order as ``centers``.

    Raises:
        ValueError: when either is not a finite 2-D array or their widths differ.
    """
    x = check_embeddings(x, "x")
    centers = check_embeddings(centers, "centers", dim=x.shape[1])
    # tol < 0: the step is always taken (the loop's stopping test never runs before its first step anyway)
    return _spherical_lloyd(x, centers, max_iter=1, tol=-1.0)[0]


def spherical_kmeans(
    x: np.ndarray, k: int, seed: int = 0, n_init: int = 4, max_iter: int = 100, tol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Spherical k-means on unit rows.

    scikit-learn's ``KMeans`` (k-means++ seeding, ``n_init`` restarts, best kept) runs on the unit
    rows; its centres are normalised onto the sphere and refined with spherical Lloyd iterations
    (assign by cosine, centre = normalised mean), which only lower the spherical objective.
    (``bench/anchor_derivation.py``: a pure spherical Lloyd from our own k-means++ seeding was 5x
    faster but ended 4-5 % worse in inertia than this; scikit-learn's Euclidean steps escape
    those local minima.)

    Args:
        x: (n, d) float32 unit rows.
        k: number of clusters, 2 <= k <= n.
        seed: the same seed gives the same result.

    Returns:
        centers (k, d) unit rows sorted by cluster size (largest first), labels (n,) int,
        inertia = sum_i (1 - cos(x_i, center)).
    """
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed, max_iter=max_iter).fit(x)
    centers, labels, inertia = _spherical_lloyd(x, l2_normalize(km.cluster_centers_).astype(np.float32), max_iter, tol)
    # canonical order: anchors sorted by size (largest first), ties by index, so ids are stable
    sizes = np.bincount(labels, minlength=k)
    order = np.lexsort((np.arange(k), -sizes))
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    return centers[order], remap[labels], inertia


@dataclass
class AnchorSet:
    """K semantic anchors in a teacher's space.

    Attributes:
        vectors: (K, d) float32 unit rows.
        sizes: (K,) rows of the derivation set assigned to each anchor.
        teacher: name of the teacher whose space the anchors live in.
        seed: seed of the derivation.
        corpus_hash: content hash of the corpus they were derived from ("" if unknown).
        inertia: spherical k-means objective on the derivation set.
        labels: (n,) top-1 anchor of each derivation row (not saved).
        derivation: :data:`DERIVATION_VERSION` of the code that derived them (1 when unrecorded).
    """

    vectors: np.ndarray
    sizes: np.ndarray
    teacher: str = "unknown"
    seed: int = 0
    corpus_hash: str = ""
    inertia: float = float("nan")
    labels: np.ndarray | None = field(default=None, repr=False)
    derivation: int = DERIVATION_VERSION

    @property
    def k(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def fingerprint(self) -> str:
        """sha256 of the anchor vectors (float32, row-major): runs record it, so a run trained on
        other anchors is never reused for these."""
        import hashlib

        return hashlib.sha256(np.ascontiguousarray(self.vectors, dtype=np.float32).tobytes()).hexdigest()

    def __repr__(self) -> str:
        return f"AnchorSet(K={self.k}, dim={self.dim}, teacher={self.teacher!r}, seed={self.seed}, inertia={self.inertia:.2f})"

    def similarities(self, embeddings: np.ndarray) -> np.ndarray:
        """Cosine of each row to each anchor. (n, d) -> (n, K)."""
        x = l2_normalize(check_embeddings(embeddings, dim=self.dim))
        return x @ self.vectors.T

    def assign(self, embeddings: np.ndarray, m: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Top-m anchors of each row by cosine: the *teacher cues*.

        Args:
            embeddings: (n, d) teacher rows.
            m: cues per row, 1 <= m <= K.

        Returns:
            ids (n, m) int64, best first; scores (n, m) float32 cosines.
        """
        check_m(m, self.k)
        sims = self.similarities(embeddings)
        ids = np.argsort(-sims, axis=1, kind="stable")[:, :m]
        return ids.astype(np.int64), np.take_along_axis(sims, ids, 1).astype(np.float32)

    def describe(self, corpus, embeddings: np.ndarray, n_exemplars: int = 1) -> pd.DataFrame:
        """One row per anchor, for a person to read.

        Args:
            corpus: the :class:`ecr_lab.data.Corpus` whose rows ``embeddings`` are (n rows).
            embeddings: (n, d) teacher rows of ``corpus``.
            n_exemplars: nearest sentences shown per language.

        Returns:
            DataFrame with columns anchor, size, share, top_topic, topic_purity, top_lang,
            lang_purity, n_langs, topics (dict), langs (dict), exemplars (dict lang -> list of texts).
        """
        if len(corpus) != len(embeddings):
            raise ValueError(f"mismatched lengths: corpus has {len(corpus)} rows, embeddings {len(embeddings)}")
        sims = self.similarities(embeddings)
        top = sims.argmax(1)
        langs, topics, texts = corpus.langs, corpus.topic_labels, corpus.texts
        rows = []
        for a in range(self.k):
            members = np.flatnonzero(top == a)
            tcounts = pd.Series(topics[members]).dropna().value_counts()
            lcounts = pd.Series(langs[members]).value_counts()
            exemplars: dict[str, list[str]] = {}
            for lang in corpus.languages:
                idx = members[langs[members] == lang]
                if len(idx):
                    best = idx[np.argsort(-sims[idx, a])[:n_exemplars]]
                    exemplars[lang] = [texts[i] for i in best]
            rows.append({
                "anchor": a,
                "size": len(members),
                "share": len(members) / max(len(top), 1),
                "top_topic": tcounts.index[0] if len(tcounts) else None,
                "topic_purity": float(tcounts.iloc[0] / tcounts.sum()) if len(tcounts) else float("nan"),
                "top_lang": lcounts.index[0] if len(lcounts) else None,
                "lang_purity": float(lcounts.iloc[0] / lcounts.sum()) if len(lcounts) else float("nan"),
                "n_langs": int(len(lcounts)),
                "topics": tcounts.to_dict(),
                "langs": lcounts.to_dict(),
                "exemplars": exemplars,
            })
        return pd.DataFrame(rows)

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``anchors.safetensors`` + ``anchors.json`` atomically.

        The folder is built under a temporary name and moved into place, so a crash never leaves
        a half-written anchor set. (A projector saves its anchors beside itself:
        :meth:`ecr_lab.projection.AnchorProjector.save`.)
        """
        directory = Path(directory)
        with atomic_dir(directory) as tmp:
            self.write_into(tmp)
        return directory

    def write_into(self, folder: Path) -> None:
        """Write this anchor set's two files into an existing ``folder`` (the caller makes it atomic)."""
        from safetensors.numpy import save_file

        save_file({"vectors": np.ascontiguousarray(self.vectors, dtype=np.float32),
                   "sizes": np.ascontiguousarray(self.sizes, dtype=np.int64)},
                  str(Path(folder) / "anchors.safetensors"))
        atomic_write_json(Path(folder) / "anchors.json", {
            "format": FORMAT, "format_version": FORMAT_VERSION, "k": self.k, "dim": self.dim,
            "teacher": self.teacher, "seed": self.seed, "corpus_hash": self.corpus_hash,
            "inertia": self.inertia, "derivation": self.derivation,
        })

    @classmethod
    def load(cls, directory: str | os.PathLike) -> AnchorSet:
        """Read an anchor set written by :meth:`save`; a foreign, corrupt or newer artifact is a clear error."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        directory = Path(directory)
        meta = read_json(directory / "anchors.json", "anchor set")
        check_format(meta, expected=FORMAT, version=FORMAT_VERSION, path=directory)
        try:
            tensors = load_file(str(directory / "anchors.safetensors"))
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"{directory}/anchors.safetensors is missing or corrupt ({e}); derive and save the anchors again") from e
        vectors = tensors.get("vectors")
        if vectors is None or vectors.shape != (meta["k"], meta["dim"]):
            raise ValueError(f"{directory}: anchor vectors do not match the metadata (K={meta['k']}, dim={meta['dim']}); the artifact is corrupt")
        return cls(vectors=vectors.astype(np.float32), sizes=tensors["sizes"], teacher=meta["teacher"],
                   seed=int(meta["seed"]), corpus_hash=meta.get("corpus_hash", ""), inertia=float(meta["inertia"]),
                   derivation=int(meta.get("derivation", 1)))


def check_m(m: int, k: int) -> None:
    """m cue tokens must satisfy 1 <= m <= K."""
    if not isinstance(m, (int, np.integer)) or m < 1 or m > k:
        raise ValueError(f"m (cues per row) must be between 1 and K={k}, got {m}")


def derive_anchors(
    teacher_embeddings: np.ndarray,
    k: int,
    seed: int = 0,
    n_init: int = 4,
    teacher: str = "unknown",
    corpus_hash: str = "",
) -> AnchorSet:
    """Derive K anchors from teacher embeddings with spherical k-means (k-means++, ``n_init`` restarts).

    Args:
        teacher_embeddings: (n, d) teacher rows (normalised here).
        k: number of anchors, 2 <= k <= n.
        seed: the same seed and data give the same anchors, in the same order (largest first).

    Returns:
        an :class:`AnchorSet` with vectors (k, d).
    """
    x = check_embeddings(teacher_embeddings, "teacher_embeddings")
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"K must be an int >= 2 (one anchor explains nothing), got {k!r}")
    if k > x.shape[0]:
        raise ValueError(f"K={k} is larger than the number of rows ({x.shape[0]}); use K <= rows or more data")
    centers, labels, inertia = spherical_kmeans(l2_normalize(x), int(k), seed=seed, n_init=n_init)
    return AnchorSet(vectors=centers, sizes=np.bincount(labels, minlength=k).astype(np.int64), teacher=teacher,
                     seed=seed, corpus_hash=corpus_hash, inertia=inertia, labels=labels)


def purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Share of rows whose label is the majority label of their cluster (1 = every cluster is pure).

    labels, clusters: (n,) arrays.
    """
    df = pd.DataFrame({"c": clusters, "y": labels}).dropna()
    if df.empty:
        return float("nan")
    return float(df.groupby("c")["y"].agg(lambda s: s.value_counts().iloc[0]).sum() / len(df))


def sweep_k(
    embeddings: np.ndarray,
    ks: Sequence[int],
    seed: int = 0,
    n_init: int = 2,
    topics: np.ndarray | None = None,
    langs: np.ndarray | None = None,
    silhouette_sample: int = 2000,
) -> pd.DataFrame:
    """Derive anchors for each K and tabulate what helps choose K.

    Columns: k, inertia, silhouette (cosine, on a sample of ``silhouette_sample`` rows),
    topic_purity and lang_purity (when labels are given; high topic purity with low language purity
    is what good anchors look like: meaning, not language).
    """
    from sklearn.metrics import silhouette_score

    x = l2_normalize(check_embeddings(embeddings))
    rng = np.random.default_rng(seed)
    sample = rng.permutation(len(x))[: min(silhouette_sample, len(x))]
    rows = []
    for k in tqdm(list(ks), desc="sweep K"):
        a = derive_anchors(x, int(k), seed=seed, n_init=n_init)
        row = {"k": int(k), "inertia": a.inertia,
               "silhouette": float(silhouette_score(x[sample], a.labels[sample], metric="cosine"))
               if len(np.unique(a.labels[sample])) > 1 else float("nan")}
        if topics is not None:
            row["topic_purity"] = purity(np.asarray(topics, dtype=object), a.labels)
        if langs is not None:
            row["lang_purity"] = purity(np.asarray(langs, dtype=object), a.labels)
        rows.append(row)
    return pd.DataFrame(rows)
