"""Kill a run at seeded random moments spread over its steps, resume it after each kill, and
compare the result with an uninterrupted run of the same seed.

Both runs call the arena served over HTTP (`lion arena serve`), each its own server, so the
server's request log tells how many LLM calls each run had answered and whether any was
answered twice. Every kill is a SIGKILL of a real `lion run` process: no cleanup runs, exactly
as when a machine dies.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from arena_server import arena_server

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
ROLES = ("teacher", "referee", "generator", "judge")

# what must come out the same: pools, answers, splits, generated instructions, scores
COMPARED = ("pools/**/*.jsonl", "heldout.jsonl", "heldout/before.json", "iter-*/imitation/teacher_answers.jsonl",
            "iter-*/discrimination/*.jsonl", "iter-*/generation/*.jsonl", "iter-*/heldout.json", "summary.json")


def overrides(url: str, small: list[str]) -> list[str]:
    """Every role on the served arena, retrying fast, as in the HTTP loop test."""
    out = [*small]
    for role in ROLES:
        out += [f"{role}.base_url={url}", f"{role}.timeout_s=2", f"{role}.backoff_s=0.02",
                f"{role}.backoff_max_s=0.2", f"{role}.max_attempts=12"]
    return out


def lion_run(out: Path, sets: list[str], **popen) -> subprocess.Popen:
    args = [sys.executable, "-m", "lion", "run", str(CONFIGS / "arena-http.yaml"), "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    return subprocess.Popen(args, env={**os.environ, "LION_QUIET": "1"}, **popen)


def state(run: Path) -> dict:
    try:
        return json.loads((run / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet (an atomic write never leaves half)
        return {"done": [], "current": None, "times": {}}


def unreadable(run: Path) -> list[str]:
    """Files of the run that a reader could not parse: any is a file left half-written."""
    bad = []
    for path in run.rglob("*"):
        if path.suffix not in (".json", ".jsonl") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".json":
                json.loads(text)
            else:
                for line in text.splitlines():
                    if line.strip():
                        json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            bad.append(str(path.relative_to(run)))
    return bad


def compared_files(run: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for pattern in COMPARED:
        for path in sorted(run.glob(pattern)):
            text = path.read_text(encoding="utf-8")
            # JSON is compared as data: key order may follow the order calls finished in
            out[str(path.relative_to(run))] = json.loads(text) if path.suffix == ".json" else text
    return out


def duplicate_ids(run: Path) -> int:
    dupes = 0
    for path in (run / "pools").rglob("*.jsonl"):
        ids = [json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()]
        dupes += len(ids) - len(set(ids))
    return dupes


@dataclass
class Kill:
    target: str  # the step the kill was aimed at
    delay_s: float  # seconds after that step started
    landed: str | None  # the step running when the signal was sent
    at: float  # Unix time of the signal
    unreadable: list[str] = field(default_factory=list)


@dataclass
class SecondProcess:
    """A second `lion run` started on the folder while the first runs."""

    returncode: int
    stderr: str
    seconds: float


def second_process(run: Path, sets: list[str]) -> SecondProcess:
    started = time.time()
    p = lion_run(run, sets, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = p.communicate(timeout=120)
    return SecondProcess(p.returncode, err.strip(), round(time.time() - started, 2))


@dataclass
class Outcome:
    kills: list[Kill]
    second: SecondProcess | None
    differing: list[str]  # compared files whose content differs from the uninterrupted run
    duplicate_ids: int
    reference: dict  # the server's counters for the uninterrupted run
    killed: dict  # and for the killed-and-resumed one
    final_rc: int
    final_stderr: str
    seconds: float

    @property
    def steps_hit(self) -> set[str]:
        return {k.landed for k in self.kills if k.landed}

    def repeats_at_kills(self, within_s: float) -> int:
        """Requests answered again whose first answer was sent less than `within_s` from a kill:
        requests in flight when the process died, which the server answered (and an API would
        bill) but no client could keep; the resumed run asks them again."""
        return sum(any(abs(k.at - t) < within_s for k in self.kills) for t in self.killed["first_of_repeats"])


def uninterrupted(workdir: Path, small: list[str], server_flags: list[str]) -> tuple[Path, dict]:
    out = workdir / "reference"
    with arena_server(*server_flags) as server:
        p = lion_run(out, overrides(server.url, small), stderr=subprocess.PIPE, text=True)
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err
        return out, server.stats()


def _durations(run: Path) -> dict[str, float]:
    return {step: t["finished"] - t["started"] for step, t in state(run)["times"].items() if "finished" in t}


def until_step_starts(run: Path, p: subprocess.Popen, step: str, before: float | None, timeout_s: float = 600) -> None:
    """Wait until `p` (re)starts `step`, passes it or ends; a run that does none of these in
    `timeout_s` is stopped and fails the test instead of hanging it."""
    deadline = time.monotonic() + timeout_s
    while p.poll() is None:
        st = state(run)
        if st["times"].get(step, {}).get("started") != before or step in st["done"]:
            return
        if time.monotonic() > deadline:
            p.kill()
            p.wait()
            raise AssertionError(f"lion run on {run} did not start step {step!r} within {timeout_s:g} s")
        time.sleep(0.01)


def kill_and_resume(workdir: Path, small: list[str], kills: int, seed: int, server_flags: list[str],
                    reference: tuple[Path, dict]) -> Outcome:
    """Run `small` with `kills` SIGKILLs and compare it with the uninterrupted `reference` run.

    Each kill aims at a step and lands a seeded random share of that step's duration in the
    reference after the step (re)starts."""
    started = time.time()
    reference, ref_stats = reference
    durations = _durations(reference)
    steps = list(durations)
    longest = max(durations, key=durations.get)
    rng = random.Random(seed)
    # `kills` spread evenly over the steps, in run order; several kills of one step land in
    # its successive restarts
    plan = [(steps[i * len(steps) // kills], rng.random()) for i in range(kills)]
    run = workdir / "killed"
    done_kills: list[Kill] = []
    second: SecondProcess | None = None
    with arena_server(*server_flags) as server:
        sets = overrides(server.url, small)
        for target, share in plan:
            if target in state(run)["done"]:
                continue  # the run is past it (an earlier kill landed late); aim at the next
            before = state(run)["times"].get(target, {}).get("started")
            p = lion_run(run, sets, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            until_step_starts(run, p, target, before)
            if second is None and target == longest and p.poll() is None:
                p.send_signal(signal.SIGSTOP)  # the first holds the lock, frozen inside its longest step
                second = second_process(run, sets)
                p.send_signal(signal.SIGCONT)
            delay = share * durations[target]
            time.sleep(delay)
            if p.poll() is not None:
                break  # it finished before the kill; what is left of the plan cannot land
            landed = state(run).get("current")
            p.send_signal(signal.SIGKILL)
            at = time.time()
            p.wait()
            done_kills.append(Kill(target, round(delay, 3), landed, at, unreadable(run)))
        p = lion_run(run, sets, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, err = p.communicate(timeout=900)
        killed_stats = server.stats()
    ref_files, got_files = compared_files(reference), compared_files(run)
    differing = sorted(name for name in ref_files.keys() | got_files.keys() if ref_files.get(name) != got_files.get(name))
    return Outcome(done_kills, second, differing, duplicate_ids(run), ref_stats, killed_stats, p.returncode, err,
                   round(time.time() - started, 1))
