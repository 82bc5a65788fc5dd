"""The run folder: one process at a time, the state of every step, and resume.

A run is a folder. Each step of the loop writes its outputs atomically and is then marked done
in `state.json`; running the same command again skips what is done and redoes the step that was
cut off, which is cheap because every LLM answer and student answer already sits in the cache
and training resumes from its last checkpoint.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from lion.core import atomic, cpu_time
from lion.core.config import RunConfig, dump_config, load_config
from lion.core.errors import LionError

# Keys a resumed run may change: they alter speed, length, spend or access, never an answer.
_ROLE_TRANSPORT = ("api_key_env", "concurrency", "rpm", "tpm", "timeout_s", "max_attempts", "backoff_s",
                   "backoff_max_s", "price", "mode", "batch")  # how answers are fetched, not what they are
_RESUMABLE_CHANGES = {("threads",), ("loop", "iterations"), ("budget", "max_usd")} | {
    (role, key) for role in ("teacher", "referee", "generator", "judge") for key in _ROLE_TRANSPORT
}


def _diff(old: dict, new: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    keys = set(old) | set(new)
    out: list[tuple[str, ...]] = []
    for k in sorted(keys):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, prefix + (k,))
        elif a != b:
            out.append(prefix + (k,))
    return out


class RunFolder:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock_fd: int | None = None

    # --- locking ---------------------------------------------------------------------------
    def lock(self) -> None:
        """Hold an exclusive lock for this process's life; the kernel drops it if we are killed."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._in_use_error() from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))  # for the message another process gets
        self._lock_fd = fd
        atomic.sweep(self.root)

    def _in_use_error(self) -> LionError:
        try:
            holder = (self.lock_path).read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            holder = ""
        who = f" (pid {holder})" if holder.isdigit() else ""
        return LionError(f"{self.root} is in use by another lion process{who}; wait for it to end.")

    def check_free(self) -> None:
        """Refuse at once when another process holds the run, before any slow checks or imports."""
        if self.in_use():
            raise self._in_use_error()

    def check_place(self) -> None:
        """Refuse a folder that holds other things and no run: a new run written into it would
        mix its files with them. An empty folder is fine, and so is a run's own, to resume it."""
        if self.root.is_dir() and not self.began() and any(self.root.iterdir()):
            raise LionError(f"{self.root} is not empty and holds no lion run; choose a new or empty --out folder.")

    def began(self) -> bool:
        """Whether a run began here: `lock` writes the lock file first, then the config is bound."""
        return any(p.exists() for p in (self.lock_path, self.config_path, self.state_path))

    def in_use(self) -> bool:
        """Whether a lion process holds this run now; asks the kernel, so a killed run reads as stopped."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- config ----------------------------------------------------------------------------
    def bind_config(self, cfg: RunConfig) -> None:
        """Store the config of a new run, or check a resumed run asks for the same thing."""
        path = self.config_path
        if not path.exists():
            atomic.write_text(path, dump_config(cfg))
            return
        # through the model, so a setting added since the run began compares at its default
        old = load_config(path).model_dump(mode="json")
        new = cfg.model_dump(mode="json")
        changed = [k for k in _diff(old, new) if k[:2] not in _RESUMABLE_CHANGES]
        if changed:
            keys = ", ".join(".".join(k) for k in changed[:5])
            raise LionError(
                f"{path}: this run was started with a different config ({keys}); "
                "resume it with the same settings or choose a new --out folder."
            )
        atomic.write_text(path, dump_config(cfg))

    # --- step state ------------------------------------------------------------------------
    def state(self) -> dict:
        """`done`: the finished steps in order; `current`: the step started last and not done;
        `times`: each step's last start and its end, in Unix seconds, the CPU seconds it used (this
        process and the processes it waited for, such as training), of them the seconds of each
        part `cpu_time` meters (`cpu_parts`: the student's work, the arena's), and the largest
        resident set of any of them so far, in MB; `last_error`: the step,
        time and sentence of the last error that stopped the run (kept after a resume finishes
        that step, for the record). A step's times say `resumed` when this start went on from
        an earlier one that never finished."""
        state = {"done": [], "current": None, "times": {}, "last_error": None}
        if self.state_path.exists():
            state.update(json.loads(self.state_path.read_text(encoding="utf-8")))
        return state

    def is_done(self, step: str) -> bool:
        return step in self.state()["done"]

    def mark_started(self, step: str) -> None:
        """Note a step's start; `resumed` when an earlier start of it never finished, so that its
        time (this session's share only) is not taken for the time of a whole step."""
        state = self.state()
        earlier = state["times"].get(step, {})
        resumed = {"resumed": True} if "started" in earlier and "finished" not in earlier else {}
        state["times"][step] = {"started": time.time(), "cpu_at_start": cpu_time.used(), "parts_at_start": cpu_time.spent(),
                                **resumed}
        state["current"] = step
        atomic.write_json(self.state_path, state)

    def mark_done(self, step: str) -> None:
        state = self.state()
        if step not in state["done"]:
            state["done"].append(step)
        times = state["times"].setdefault(step, {})
        times["finished"] = time.time()
        if "cpu_at_start" in times:  # started by this process: its CPU clocks count from that start
            times["cpu_s"] = cpu_time.used() - times.pop("cpu_at_start")
            before = times.pop("parts_at_start", {})
            times["cpu_parts"] = {part: s - before.get(part, 0.0) for part, s in cpu_time.spent().items()}
        times["peak_rss_mb"] = cpu_time.peak_rss_mb()
        state["current"] = None
        atomic.write_json(self.state_path, state)

    def forget(self, steps: list[str]) -> None:
        """Mark steps not done, so the plan takes them again: their outputs are being replaced."""
        state = self.state()
        if any(s in state["done"] for s in steps):
            state["done"] = [s for s in state["done"] if s not in steps]
            atomic.write_json(self.state_path, state)

    def mark_error(self, message: str) -> None:
        state = self.state()
        state["last_error"] = {"step": state["current"], "time": time.time(), "message": message}
        atomic.write_json(self.state_path, state)

    # --- paths -----------------------------------------------------------------------------
    # Every file of a run is named here and nowhere else; see IterationFolder for an iteration's.
    @property
    def config_path(self) -> Path:
        """The resolved config the run was started with; a resume must ask for the same."""
        return self.root / "config.yaml"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    @property
    def log_path(self) -> Path:
        """Every message of every session of the run, with times: what the console showed."""
        return self.root / "lion.log"

    @property
    def progress_path(self) -> Path:
        """The progress bar of the step running now, for `lion status` to read."""
        return self.root / "progress.json"

    @property
    def cache_path(self) -> Path:
        return self.root / "cache.sqlite"

    @property
    def summary_path(self) -> Path:
        """Every iteration's record, rebuilt from the step outputs after each iteration."""
        return self.root / "summary.json"

    @property
    def heldout_questions(self) -> Path:
        return self.root / "heldout.jsonl"

    @property
    def base_student(self) -> Path:
        """The untrained student, where the run builds it (the arena's tiny one)."""
        return self.root / "student-base"

    @property
    def before(self) -> HeldoutFiles:
        """The untrained student's held-out scores."""
        return HeldoutFiles(self.root / "heldout" / "before")

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def pools(self, k: int) -> Pools:
        """The pools after iteration k's update; k = 0 holds the seed pools."""
        return Pools(self.root / "pools" / f"{k:02d}")

    def iteration(self, k: int) -> IterationFolder:
        return IterationFolder(self.root / f"iter-{k:02d}")

    def trained_iterations(self) -> list[int]:
        """The iterations whose trained student is on disk, in order."""
        return sorted(int(p.parent.name.removeprefix("iter-")) for p in self.root.glob("iter-*/student") if p.is_dir())

    @staticmethod
    def looks_like_run(root: Path) -> bool:
        """Whether a folder holds a run (as opposed to a model folder)."""
        return (Path(root) / "state.json").is_file()


class Pools:
    """The Train Pool and the Cache Pool at one point of the run."""

    def __init__(self, root: Path):
        self.root = root

    @property
    def train(self) -> Path:
        return self.root / "train.jsonl"

    @property
    def cache(self) -> Path:
        return self.root / "cache.jsonl"


class HeldoutFiles:
    """One student's held-out evaluation: a summary and one line per question."""

    def __init__(self, stem: Path):
        self.scores = stem.with_suffix(".json")
        self.items = stem.with_suffix(".jsonl")


class _StepFolder:
    def __init__(self, root: Path):
        self.root = root

    @property
    def failed(self) -> Path:
        """The items the step left out, each with its reason."""
        return self.root / "failed.jsonl"


class ImitationFiles(_StepFolder):
    @property
    def teacher_answers(self) -> Path:
        return self.root / "teacher_answers.jsonl"

    @property
    def left_out(self) -> Path:
        """The teacher's answers not trained on (empty, or cut off at max_tokens), with the reason."""
        return self.root / "left_out.jsonl"

    @property
    def held_back(self) -> Path:
        """With loop.judged: held_back, the slice of the Train Pool kept out of this iteration's
        training to be judged; it is trained on in the next iteration."""
        return self.root / "held_back.jsonl"

    @property
    def train_stats(self) -> Path:
        return self.root / "train.json"

    @property
    def work(self) -> Path:
        """Training checkpoints, so a killed training resumes."""
        return self.root / "work"

    @property
    def staging(self) -> Path:
        return self.root / "student.staging"


class DiscriminationFiles(_StepFolder):
    @property
    def teacher_answers(self) -> Path:
        return self.root / "teacher_answers.jsonl"

    @property
    def student_answers(self) -> Path:
        return self.root / "student_answers.jsonl"

    @property
    def judgements(self) -> Path:
        return self.root / "judgements.jsonl"

    @property
    def split(self) -> Path:
        return self.root / "split.jsonl"

    @property
    def bias(self) -> Path:
        return self.root / "bias.json"

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"


class GenerationFiles(_StepFolder):
    @property
    def candidates(self) -> Path:
        return self.root / "candidates.jsonl"

    @property
    def new_instructions(self) -> Path:
        return self.root / "new_instructions.jsonl"

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"


class IterationFolder:
    """Iteration k's outputs: a folder per step, the trained student and its held-out scores."""

    def __init__(self, root: Path):
        self.root = root

    @property
    def imitation(self) -> ImitationFiles:
        return ImitationFiles(self.root / "imitation")

    @property
    def discrimination(self) -> DiscriminationFiles:
        return DiscriminationFiles(self.root / "discrimination")

    @property
    def generation(self) -> GenerationFiles:
        return GenerationFiles(self.root / "generation")

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def heldout(self) -> HeldoutFiles:
        return HeldoutFiles(self.root / "heldout")

