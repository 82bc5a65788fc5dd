"""What every stage needs: the config, the run folder, the roles, the cache, and a printer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lion.core.config import RunConfig
from lion.llm.cache import ResponseCache
from lion.llm.roles import Roles
from lion.loop.run_folder import RunFolder


@dataclass
class Context:
    cfg: RunConfig
    run: RunFolder
    cache: ResponseCache
    roles: Roles
    say: Callable[[str], None]

    @property
    def threads(self) -> int:
        return self.cfg.torch_threads()

    def student_dir(self, k: int) -> Path:
        """The student after iteration k's imitation; k = 0 is the untrained base."""
        if k == 0:
            return base_student_path(self.cfg, self.run)
        return self.run.iteration(k).student


def base_student_path(cfg: RunConfig, run: RunFolder) -> Path:
    return run.base_student if cfg.student.model == "arena-tiny" else Path(cfg.student.model)
