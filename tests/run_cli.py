"""The `lion` command as a user runs it: a fresh process, quiet bars, output captured."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def lion(*args: str, cwd: Path, timeout: int = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LION_QUIET": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "lion", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def kill_when(args: list[str], cwd: Path, ready: Callable[[], bool], env: dict[str, str] | None = None,
              after_s: float = 0.3) -> None:
    """Start `lion ARGS` and SIGKILL it `after_s` after `ready()` first holds (a batch was sent,
    say); it must not end before."""
    started = subprocess.Popen([sys.executable, "-m", "lion", *args], cwd=cwd, env={**os.environ, "LION_QUIET": "1", **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ready():
        assert started.poll() is None and time.monotonic() < deadline, f"lion {args[0]} ended or waited too long first"
        time.sleep(0.05)
    time.sleep(after_s)
    started.send_signal(signal.SIGKILL)
    started.wait(timeout=30)
