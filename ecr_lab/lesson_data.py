"""The small computations that notebooks 01 and 02 show beside the library calls, so that they stay
thin and each step is tested once.

- :func:`spherical_objective`: the objective spherical k-means lowers (notebook 02 takes one
  Lloyd step by hand and reads it before and after).
- :func:`purity_against_chance`, :func:`choose_k`: the anchors' topic purity at each K beside the
  purity of shuffled topic labels on the same clusters, and the K where anchors know most about
  topics beyond chance (notebook 02's K sweep).
- :func:`translation_table`, :func:`distinct_top1_per_unit`: one sentence in every language of the
  corpus with its teacher cues, and how many distinct first cues each meaning unit's translations
  get (notebook 02: do translations share a cue?).
- :data:`SMOLLM2_PARAMETERS`: the size of the pretrained student of notebook 01, for its
  metrics-against-size chart, without loading the model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .anchors import AnchorSet, derive_anchors, purity
from .vectors import check_embeddings, l2_normalize

#: parameters of SmolLM2-135M (tied input and output embeddings): 49,152 x 576 embedding rows
#: (28,311,552) + 30 layers x 3,540,096 (attention 884,736 with 9 query and 3 key-value heads of 64,
#: MLP 3 x 576 x 1,536, two norms) + the final norm (576)
SMOLLM2_PARAMETERS = 134_515_008


def spherical_objective(x: np.ndarray, centers: np.ndarray) -> float:
    """The spherical k-means objective of ``centers`` on ``x``: sum_i (1 - max_k cos(x_i, c_k)).

    x (n, d), centers (k, d), both normalised here; lower is better (0 = every row on a centre).
    It is what ``AnchorSet.inertia`` reports for the anchors ``derive_anchors`` found.
    """
    x = l2_normalize(check_embeddings(x, "x"))
    c = l2_normalize(check_embeddings(centers, "centers", dim=x.shape[1]))
    return float(np.sum(1.0 - (x @ c.T).max(1)))


def purity_against_chance(embeddings: np.ndarray, ks: Sequence[int], topics: np.ndarray, seed: int = 0,
                          n_init: int = 2, shuffles: int = 5) -> pd.DataFrame:
    """Topic purity of the anchors at each K beside the purity of shuffled topic labels on the same
    clusters: the chance level, which rises with K too (a small cluster's majority wins by luck).

    The anchors are derived as ``anchors.sweep_k`` derives them (same ``seed`` and ``n_init``), so
    ``topic_purity`` is the sweep's column. ``shuffled_purity`` is the mean over ``shuffles``
    permutations of the topic labels (fixed by ``seed``), ``shuffled_sd`` their spread, and
    ``excess_purity`` = topic_purity - shuffled_purity: what the anchors know about topics.

    Returns a DataFrame with columns k, topic_purity, shuffled_purity, shuffled_sd, excess_purity.
    """
    x = l2_normalize(check_embeddings(embeddings))
    topics = np.asarray(topics, dtype=object)
    if len(topics) != len(x):
        raise ValueError(f"mismatched lengths: {len(x)} embeddings, {len(topics)} topics")
    if shuffles < 1:
        raise ValueError(f"shuffles must be >= 1, got {shuffles}")
    rng = np.random.default_rng(seed)
    permuted = [rng.permutation(topics) for _ in range(shuffles)]
    rows = []
    for k in ks:
        labels = derive_anchors(x, int(k), seed=seed, n_init=n_init).labels
        true = purity(topics, labels)
        chance = np.array([purity(p, labels) for p in permuted])
        rows.append({"k": int(k), "topic_purity": true, "shuffled_purity": float(chance.mean()),
                     "shuffled_sd": float(chance.std()), "excess_purity": true - float(chance.mean())})
    return pd.DataFrame(rows)


def choose_k(table: pd.DataFrame, column: str = "excess_purity") -> int:
    """The K of ``table`` (from :func:`purity_against_chance`) with the largest ``column``; the
    smallest such K on a tie (fewer cue tokens to learn)."""
    if table.empty or column not in table:
        raise ValueError(f"need a non-empty table with columns k and {column!r}; got {list(table.columns)}")
    best = table[column].max()
    return int(table.loc[np.isclose(table[column], best), "k"].min())


def translation_table(corpus, embeddings: np.ndarray, anchors: AnchorSet, pair_id=None, m: int = 1) -> pd.DataFrame:
    """One meaning unit (``pair_id``; default: the first row's) in every language, with its teacher cues.

    ``embeddings`` are the teacher rows of ``corpus``. Columns: lang, text, cues (the top-m control
    tokens, best first), cosine (to each cue's anchor), and shares_top1: whether the row's top-1 anchor
    is the one most of the unit's rows get.
    """
    from .control_tokens import cue_token

    if len(corpus) != len(embeddings):
        raise ValueError(f"mismatched lengths: corpus has {len(corpus)} rows, embeddings {len(embeddings)}")
    pids = corpus.pair_ids
    pid = pids[0] if pair_id is None else pair_id
    rows = np.flatnonzero(pids == pid)
    if len(rows) == 0:
        raise ValueError(f"no row of the corpus has pair_id {pid!r}")
    ids, scores = anchors.assign(np.asarray(embeddings)[rows], m)
    common = Counter(ids[:, 0].tolist()).most_common(1)[0][0]
    texts = corpus.texts
    return pd.DataFrame({
        "lang": corpus.langs[rows],
        "text": [texts[i] for i in rows],
        "cues": [" ".join(cue_token(a) for a in r) for r in ids],
        "cosine": [", ".join(f"{s:.2f}" for s in r) for r in scores],
        "shares_top1": ids[:, 0] == common,
    })


def distinct_top1_per_unit(corpus, embeddings: np.ndarray, anchors: AnchorSet) -> pd.Series:
    """For each meaning unit (``pair_id``) of ``corpus``: how many distinct top-1 anchors its rows get
    (1 = every translation gets the same first cue). ``embeddings``: the teacher rows of ``corpus``.
    Rows without a ``pair_id`` are left out. Returns a Series indexed by pair_id, in order of first
    appearance, named ``distinct_top1``."""
    if len(corpus) != len(embeddings):
        raise ValueError(f"mismatched lengths: corpus has {len(corpus)} rows, embeddings {len(embeddings)}")
    top1 = anchors.assign(np.asarray(embeddings), 1)[0][:, 0]
    frame = pd.DataFrame({"pair_id": corpus.pair_ids, "top1": top1}).dropna(subset=["pair_id"])
    return frame.groupby("pair_id", sort=False)["top1"].nunique().rename("distinct_top1")
