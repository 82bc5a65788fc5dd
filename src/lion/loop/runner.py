"""The Lion loop: setup, then per iteration imitation -> discrimination -> generation -> update.

Every step is skipped when `state.json` says it is done, so the same command resumes a run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lion.core import progress
from lion.core.config import RunConfig
from lion.core.errors import LionError, storage_error, storage_problem
from lion.core.records import Instruction, read_jsonl, write_jsonl
from lion.data.questions import read_questions
from lion.data.seeds import load_seeds
from lion.data.similarity import NoveltyIndex
from lion.llm.cache import ResponseCache
from lion.llm.roles import Roles, check_endpoints, shared_model_warning
from lion.loop.context import Context
from lion.loop.run_folder import RunFolder
from lion.loop.stages.discrimination import SplitRecord, run_discrimination
from lion.loop.stages.generation import guard_index, run_generation
from lion.loop.stages.heldout import HeldoutItem, build_heldout, evaluate_heldout
from lion.loop.stages.imitation import run_imitation
from lion.loop.summary import summarize


def _setup(ctx: Context, seeds: list[Instruction], dupes: int) -> None:
    cfg, run = ctx.cfg, ctx.run
    msg = f"seed instructions: {len(seeds)}"
    ctx.say(msg + (f" ({dupes} duplicates dropped)" if dupes else ""))
    heldout = build_heldout(cfg, seeds)
    write_jsonl(run.root / "heldout.jsonl", heldout)
    if cfg.student.model == "arena-tiny" and not (run.base_student / "config.json").exists():
        from lion.arena import corpus
        from lion.student.tiny import build_tiny_student

        texts = corpus(cfg.data.arena_sums) + [s.instruction + " " + s.input for s in seeds]
        ctx.say("building the arena's tiny student")
        build_tiny_student(texts, run.base_student, cfg.student.tiny, cfg.loop.seed)
    write_jsonl(run.pools_dir(0) / "train.jsonl", seeds)
    write_jsonl(run.pools_dir(0) / "cache.jsonl", seeds)


def _heldout(ctx: Context) -> list[HeldoutItem]:
    return read_jsonl(ctx.run.root / "heldout.jsonl", HeldoutItem)


def _describe(it: dict) -> str:
    dropped = ", ".join(f"{n} {why}" for why, n in sorted(it["dropped"].items(), key=lambda x: -x[1]))
    line = (
        f"iteration {it['iteration']}: Train Pool {it['train_pool']}, Cache Pool {it['cache_pool']}; "
        + (f"hard {it['hard']}, easy {it['easy']}" if it["hard"] is not None else "no referee")
        + (f", unjudged {it['failed_judgements']}" if it["failed_judgements"] else "")
        + f"; generated {it['generated']}, kept {it['kept']}"
        + (f" (dropped: {dropped})" if dropped else "")
    )
    if it["heldout"]:
        h = it["heldout"]
        line += f"\n  held-out: {heldout_scores(h)}"
    cost = it["spend"].get("cost_usd", 0.0)
    line += f"\n  LLM calls this iteration: {it['spend'].get('calls', 0)}, " + (
        "cost unknown (no price for some model)" if cost is None else f"${cost:.2f}")
    return line


def run_loop(cfg: RunConfig, out: Path, say: Callable[[str], None]) -> dict:
    from lion.student.generate import engine_for
    from lion.student.train import check_train_config

    run = RunFolder(out)
    # check the input before the run folder is made, so bad input leaves nothing behind
    check_train_config(cfg.student.train)
    engine_for(cfg.student.generate)
    if cfg.evaluation.heldout not in ("arena", "none"):
        read_questions(Path(cfg.evaluation.heldout))
    seeds = None if run.is_done("setup") else load_seeds(cfg.data, cfg.loop.seed)
    guard = guard_index(cfg.loop.guard)
    check_endpoints(cfg)
    run.lock()
    try:
        run.bind_config(cfg)
        with progress.recording(run.progress_path, run.log_path):
            return _logged(cfg, run, seeds, guard, say)
    finally:
        run.unlock()


def _logged(cfg: RunConfig, run: RunFolder, seeds: tuple[list[Instruction], int] | None,
            guard: NoveltyIndex | None, say: Callable[[str], None]) -> dict:
    """The run, with every message also in the run's log and an error that stops it kept in
    `state.json`, for `lion status`."""
    def say_and_log(message: str) -> None:
        progress.log(message)
        say(message)

    progress.log(f"lion started (pid {os.getpid()})")
    say_and_log(f"run folder: {run.root}")
    warning = shared_model_warning(cfg)
    if warning:
        say_and_log(f"[yellow]{warning}[/yellow]")
    try:
        cache = ResponseCache(run.cache_path)
        try:
            roles = Roles.from_config(cfg, cache)
            try:
                summary = _iterate(Context(cfg, run, cache, roles, say_and_log), seeds, guard)
            finally:
                roles.close()
        finally:
            cache.close()
    except LionError as e:
        _stopped(run, f"error: {e}")
        raise
    except KeyboardInterrupt:
        _stopped(run, "interrupted")
        raise
    except Exception as e:
        problem = storage_problem(e)
        if problem is None:
            _stopped(run, f"unexpected error: {type(e).__name__}: {e}")
            raise
        error = storage_error(run.root, problem)
        _stopped(run, f"error: {error}")
        raise error from None
    progress.log("lion finished")
    return summary


def _stopped(run: RunFolder, message: str) -> None:
    """Note why the run stopped, where the storage still lets us: a full or read-only disk
    refuses this too, and then the console's message is the only record."""
    try:
        progress.log(message)
        run.mark_error(message)
    except OSError:
        pass


def _step(ctx: Context, name: str, fn: Callable[[], object]) -> None:
    if ctx.run.is_done(name):
        return
    ctx.roles.set_stage(name)
    ctx.run.mark_started(name)
    fn()
    ctx.run.mark_done(name)


def _iterate(ctx: Context, seeds: tuple[list[Instruction], int] | None, guard: NoveltyIndex | None) -> dict:
    cfg, run = ctx.cfg, ctx.run
    _step(ctx, "setup", lambda: _setup(ctx, *seeds))
    heldout = _heldout(ctx)
    evaluate = bool(heldout)
    if evaluate:
        def before() -> None:
            r = evaluate_heldout(ctx, ctx.student_dir(0), heldout, "before training", run.root / "heldout" / "before")
            say_scores(ctx, "before training", r)

        _step(ctx, "before", before)
    heldout_ids = {h.id for h in heldout}
    for k in range(1, cfg.loop.iterations + 1):
        if run.is_done(f"{k}.heldout") or (not evaluate and run.is_done(f"{k}.generation")):
            continue
        ctx.say(f"[bold]iteration {k}[/bold]")
        train = read_jsonl(run.pools_dir(k - 1) / "train.jsonl", Instruction)
        cache_pool = read_jsonl(run.pools_dir(k - 1) / "cache.jsonl", Instruction)
        _step(ctx, f"{k}.imitation", lambda: run_imitation(ctx, k, train))
        if cfg.loop.uses_referee:
            _step(ctx, f"{k}.discrimination", lambda: run_discrimination(ctx, k, cache_pool))

        def generate() -> None:
            split = (read_jsonl(run.iteration_dir(k) / "discrimination" / "split.jsonl", SplitRecord)
                     if cfg.loop.uses_referee else [])
            new, _ = run_generation(ctx, k, cache_pool, split, heldout_ids, guard)
            write_jsonl(run.pools_dir(k) / "train.jsonl", new)  # X_A is replaced ...
            write_jsonl(run.pools_dir(k) / "cache.jsonl", cache_pool + new)  # ... X_B is extended

        _step(ctx, f"{k}.generation", generate)
        if evaluate:
            _step(ctx, f"{k}.heldout", lambda: evaluate_heldout(
                ctx, ctx.student_dir(k), heldout, f"iter {k}", run.iteration_dir(k) / "heldout"))
        summary = summarize(run, cfg.loop.iterations, ctx.cache)
        ctx.say(_describe(summary["iterations"][-1]))
    return summarize(run, cfg.loop.iterations, ctx.cache)


def heldout_scores(r: dict) -> str:
    low, high = r.get("relative_interval") or (None, None)
    text = f"relative score {r['relative_score']}%" + (f" [{low}, {high}]" if low is not None else "")
    return (f"exact match {r['exact_match']}%, " if r.get("exact_match") is not None else "") + text


def say_scores(ctx: Context, name: str, r: dict) -> None:
    ctx.say(f"held-out {name}: {heldout_scores(r)}")
