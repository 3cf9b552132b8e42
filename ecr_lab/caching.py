"""Load-or-compute, written once: expensive results (embeddings, per-run tables) are kept on disk
and a second call reads them back. Writes are atomic, so an interrupted computation never leaves a
half-written file that a later call would trust.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from ._io import atomic_write_bytes

T = TypeVar("T")


def cached(path: str | os.PathLike, compute: Callable[[], T], load: Callable[[Path], T],
           dump: Callable[[T], bytes]) -> T:
    """``load(path)`` when ``path`` exists, else ``compute()``, written atomically as ``dump(value)``."""
    path = Path(path)
    if path.exists():
        return load(path)
    value = compute()
    atomic_write_bytes(path, dump(value))
    return value


def _npy_bytes(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(x))
    return buf.getvalue()


def cached_array(path: str | os.PathLike, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """An array cached as ``.npy`` at ``path``."""
    return cached(path, lambda: np.asarray(compute()), np.load, _npy_bytes)


def cached_frame(path: str | os.PathLike, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """A table cached as CSV at ``path``."""
    return cached(path, compute, pd.read_csv, lambda df: df.to_csv(index=False).encode())


def save_array(path: str | os.PathLike, x: np.ndarray) -> Path:
    """Write one array as ``.npy``, atomically."""
    return atomic_write_bytes(path, _npy_bytes(x))
