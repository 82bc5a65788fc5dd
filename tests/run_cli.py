"""The `lion` command as a user runs it: a fresh process, quiet bars, output captured."""

import os
import subprocess
import sys
from pathlib import Path


def lion(*args: str, cwd: Path, timeout: int = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LION_QUIET": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "lion", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
