"""A run folder on a disk that fills up or turns read-only: one sentence, exit 2, nothing
corrupt, and the same command finishes the run once the disk is fixed."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kill_resume import compared_files, unreadable

from run_cli import lion
from small_run import SMALL

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "arena.yaml"


def _mount(point: Path, options: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True,
                          check=False)


@contextmanager
def tmpfs(tmp_path: Path, size: str) -> Iterator[Path]:
    """A small file system of our own, or a skip where this machine lets us mount none."""
    point = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    point.mkdir()
    made = _mount(point, f"size={size}")
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip() or 'mount failed'}); needs root")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def remount(point: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(point)], check=True)


def run(out: Path, *extra: str):
    sets = [a for s in [*SMALL, *extra] for a in ("--set", s)]
    return lion("run", str(CONFIG), "--out", str(out), *sets, cwd=out.parent.parent)


def _one_sentence(stderr: str, problem: str, out: Path) -> None:
    assert "Traceback" not in stderr and stderr.count("error:") == 1
    message = " ".join(stderr[stderr.index("error:"):].split())  # after the run's own messages
    # names the run folder, or the file in it that could not be written
    assert message.startswith(f"error: {out}") and f": cannot write there, because {problem};" in message, stderr


def test_a_full_disk_stops_the_run_and_the_run_finishes_once_there_is_room(tmp_path, small_run):
    with tmpfs(tmp_path, "3m") as disk:
        out = disk / "run"
        full = run(out)
        assert full.returncode == 2
        _one_sentence(full.stderr, "no space is left on its device", out)
        assert unreadable(out) == []
        remount(disk, "size=300m")
        done = run(out)
        assert done.returncode == 0, done.stderr
        assert compared_files(out) == compared_files(small_run)


def test_a_read_only_disk_stops_the_run_untouched_and_the_run_finishes_once_writable(tmp_path, small_run):
    with tmpfs(tmp_path, "300m") as disk:
        out = disk / "run"
        first = run(out, "loop.iterations=1")  # a run partway: one of its two iterations
        assert first.returncode == 0, first.stderr
        before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        remount(disk, "ro")
        stopped = run(out)
        assert stopped.returncode == 2
        _one_sentence(stopped.stderr, "its file system is read-only", out)
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
        remount(disk, "rw")
        done = run(out)
        assert done.returncode == 0, done.stderr
        assert compared_files(out) == compared_files(small_run)
