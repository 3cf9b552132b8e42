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
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


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


_TMP_FILE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
)


def _create_unique(path: Path, create: Callable[[str], T]) -> tuple[T, str]:
    """Create a new temporary sibling of ``path`` (``.<name>.<random>.tmp``) with ``create``.

    ``create`` must fail with FileExistsError when the name is taken (O_EXCL, mkdir); another name
    is tried then. Returns what ``create`` returned and the temporary path.
    """
    for _ in range(100):
        tmp = str(path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp"))
        try:
            return create(tmp), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary name next to {path}; clean up {path.parent}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + os.replace).

    The file gets the mode ``open()`` would give it (0666 minus the umask): the temporary file is
    created with mode 0666 and the kernel applies the umask, which is never read nor changed here
    (changing it is process-wide, a race with other threads).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_unique(path, lambda t: os.open(t, _TMP_FILE_FLAGS, 0o666))
    try:
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

    The folder gets the mode ``mkdir`` gives (0777 minus the umask; the umask is never touched).
    An existing folder at ``path`` is replaced; on any error (or KeyboardInterrupt) the partial
    folder is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _, name = _create_unique(path, lambda t: os.mkdir(t, 0o777))  # 0777 minus the umask, like mkdir
    tmp = Path(name)
    try:
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
