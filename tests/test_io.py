"""The atomic file helpers every artifact goes through."""

import os
import stat

import pytest

from ecr_lab._io import atomic_dir, atomic_write_bytes, atomic_write_json, check_format, read_json


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_bytes_replaces_and_keeps_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        p = atomic_write_bytes(tmp_path / "sub" / "a.txt", b"one")
        atomic_write_bytes(p, b"two")
        assert p.read_bytes() == b"two"
        assert _mode(p) == 0o644  # like open(), not mkstemp's 0600
        with atomic_dir(tmp_path / "folder") as d:
            (d / "x").write_text("x")
        assert _mode(tmp_path / "folder") == 0o755
    finally:
        os.umask(old)
    assert sorted(f.name for f in p.parent.iterdir()) == ["a.txt"]  # no temporary left behind


def test_interrupted_writes_keep_the_previous_content(tmp_path, monkeypatch):
    p = atomic_write_bytes(tmp_path / "a.bin", b"good")

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(p, b"half")
    monkeypatch.undo()
    assert p.read_bytes() == b"good" and [f.name for f in tmp_path.iterdir()] == ["a.bin"]

    with atomic_dir(tmp_path / "ckpt") as d:
        (d / "w").write_text("v1")
    with pytest.raises(KeyboardInterrupt), atomic_dir(tmp_path / "ckpt") as d:
        (d / "w").write_text("v2-partial")
        raise KeyboardInterrupt
    assert (tmp_path / "ckpt" / "w").read_text() == "v1"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.bin", "ckpt"]


def test_read_json_and_check_format_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="anchors: .* does not exist"):
        read_json(tmp_path / "missing.json", "anchors")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        read_json(tmp_path / "bad.json", "anchors")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ValueError, match="holds list"):
        read_json(tmp_path / "list.json", "anchors")
    meta = read_json(atomic_write_json(tmp_path / "m.json", {"format": "x", "format_version": 1}), "m")
    check_format(meta, expected="x", version=1, path=tmp_path)
    with pytest.raises(ValueError, match="not an y artifact"):
        check_format(meta, expected="y", version=1, path=tmp_path)
    with pytest.raises(ValueError, match="upgrade ecr_lab"):
        check_format({"format": "x", "format_version": 2}, expected="x", version=1, path=tmp_path)


def test_atomic_writes_never_touch_the_process_umask(tmp_path, monkeypatch):
    """The umask is process-wide: reading it means flipping it, a race with other threads."""
    old = os.umask(0o027)  # an unusual umask, so the expected modes differ from mkstemp's 0600/0700
    try:
        umask = os.umask(0o027)  # read once, before patching

        def forbidden(*a):
            raise AssertionError("os.umask was called during an atomic write")

        monkeypatch.setattr(os, "umask", forbidden)
        p = atomic_write_bytes(tmp_path / "a.bin", b"one")
        atomic_write_bytes(p, b"two")  # replacing an existing file too
        with atomic_dir(tmp_path / "folder") as d:
            assert _mode(d) == 0o777 & ~umask
            (d / "x").write_text("x")
        monkeypatch.undo()
    finally:
        os.umask(old)
    assert p.read_bytes() == b"two" and _mode(p) == 0o666 & ~umask == 0o640
    assert _mode(tmp_path / "folder") == 0o777 & ~umask == 0o750
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.bin", "folder"]
