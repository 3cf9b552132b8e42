"""Small file helpers shared by every module that writes artifacts.

Everything ecr_lab writes (cached embeddings, anchor sets, projectors, checkpoints) goes through
these helpers, so an interrupted write never leaves a half-written file behind: data is written to
a temporary name in the same folder and moved into place with :func:`os.replace`, which is atomic
on POSIX and Windows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


def sha256_texts(texts: Iterable[str]) -> str:
    """Hex SHA-256 of a sequence of strings (order matters, boundaries are unambiguous)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def text_hashes(texts: Iterable[str], salt: str = "") -> np.ndarray:
    """Per-text SHA-256 hex digests, shape (n,), dtype '<U64'. ``salt`` keys them (e.g. a teacher name)."""
    prefix = salt.encode("utf-8") + b"\x00"
    return np.array(
        [hashlib.sha256(prefix + t.encode("utf-8")).hexdigest() for t in texts], dtype="<U64"
    )


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _usual_mode(path: str | os.PathLike, directory: bool = False) -> None:
    """Give a temporary file (0600) or folder (0700) the mode ``open`` / ``mkdir`` would have given
    it (0666 / 0777 minus the umask), so results stay readable by whoever may read the folder."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _usual_mode(tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as pretty UTF-8 JSON, atomically."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a folder under a temporary name and move it to ``path`` only when the block succeeds.

    An existing folder at ``path`` is replaced; on any error (or KeyboardInterrupt) the partial
    folder is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        _usual_mode(tmp, directory=True)
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_json(path: str | os.PathLike, what: str) -> dict:
    """Read a JSON object, turning a missing or corrupt file into a clear error naming ``what``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: {path} does not exist; was it saved with ecr_lab?")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what}: {path} is not valid JSON ({e}); the file is corrupt, save it again") from e
    if not isinstance(obj, dict):
        raise ValueError(f"{what}: {path} holds {type(obj).__name__}, expected a JSON object")
    return obj


def check_format(meta: dict, *, expected: str, version: int, path: str | os.PathLike) -> None:
    """Refuse artifacts of another kind, or of a newer format version than this ecr_lab reads."""
    fmt = meta.get("format")
    if fmt != expected:
        raise ValueError(
            f"{path} is not an {expected} artifact (format={fmt!r}); point to a folder written by "
            f"ecr_lab's save() for this kind of object"
        )
    v = meta.get("format_version")
    if not isinstance(v, int) or v > version:
        raise ValueError(
            f"{path} has format_version={v!r}, but this ecr_lab reads {expected} up to version "
            f"{version}; upgrade ecr_lab (pip install -U ecr-lab) or re-create the artifact"
        )
