"""The Lion loop: setup, then per iteration imitation -> discrimination -> generation -> update.

Every step is skipped when `state.json` says it is done, so the same command resumes a run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from itertools import groupby
from pathlib import Path

from rich.markup import escape

from lion.arena import corpus, spelled_words
from lion.core import progress
from lion.core.config import RunConfig
from lion.core.errors import LionError, storage_error, storage_problem
from lion.core.records import Instruction, SplitRecord, read_jsonl, write_jsonl
from lion.data.questions import read_questions
from lion.data.seeds import load_seeds
from lion.data.similarity import NoveltyIndex
from lion.llm.cache import ResponseCache
from lion.llm.roles import Roles, check_endpoints, shared_model_warning
from lion.loop.context import Context
from lion.loop.describe import heldout_text, iteration_line, split_warning
from lion.loop.plan import CLOSING, SETUP, Step, iteration_of, run_steps, steps, student_steps
from lion.loop.run_folder import RunFolder
from lion.loop.stages.discrimination import run_discrimination
from lion.loop.stages.generation import guard_index, run_generation
from lion.loop.stages.heldout import HeldoutItem, build_heldout, evaluate_heldout
from lion.loop.stages.imitation import held_back, run_imitation
from lion.loop.summary import IterationRecord, Summary, summarize


def _setup(ctx: Context, seeds: list[Instruction], dupes: int) -> None:
    cfg, run = ctx.cfg, ctx.run
    msg = f"seed instructions: {len(seeds)}"
    ctx.say(msg + (f" ({dupes} duplicates dropped)" if dupes else ""))
    heldout = build_heldout(cfg, seeds)
    write_jsonl(run.heldout_questions, heldout)
    if cfg.student.model == "arena-tiny" and not (run.base_student / "config.json").exists():
        from lion.student.tiny import build_tiny_student  # torch: imported only when a student is built

        data = cfg.data
        texts = corpus(data.arena_sums, data.arena_procedures, data.arena_wide) + [s.instruction + " " + s.input for s in seeds]
        ctx.say("building the arena's tiny student")
        spelled = spelled_words() if data.arena_procedures else ()  # letters where a kind's rule is in them
        build_tiny_student(texts, run.base_student, cfg.student.tiny, cfg.loop.seed, spelled)
    write_jsonl(run.pools(0).train, seeds)
    write_jsonl(run.pools(0).cache, seeds)


def run_loop(cfg: RunConfig, out: Path, say: Callable[[str], None], resume: str | None = None) -> Summary:
    """Run or resume the loop in `out`. `resume` is the command line that resumes it, for the
    message a Ctrl-C leaves: the run then raises KeyboardInterrupt with that message, which says
    where it stopped and how to go on, and which is also in the run's log."""
    from lion.student.generate import engine_for
    from lion.student.train import check_train_config

    run = RunFolder(out)
    # check the input before the run folder is made, so bad input leaves nothing behind
    check_train_config(cfg.student.train, cfg.loop.preference_step.trains_on_pairs)
    engine_for(cfg.student.generate)
    if cfg.evaluation.heldout not in ("arena", "none"):
        read_questions(Path(cfg.evaluation.heldout))
    seeds = None if run.is_done("setup") else load_seeds(cfg.data, cfg.loop.seed)
    problem = seeds and cfg.loop.judging.seeds_problem(cfg.loop.held_back, len(seeds[0]))
    if problem:
        raise LionError(f"config field 'loop.held_back': {problem} (the first iteration's Train Pool).")
    guard = guard_index(cfg.loop.guard)
    if not all(run.is_done(s.name) for s in run_steps(cfg, run)):  # a finished run only prints its table
        check_endpoints(cfg)
    run.lock()
    try:
        run.bind_config(cfg)
        with progress.recording(run.progress_path, run.log_path):
            return _logged(cfg, run, seeds, guard, say, resume)
    finally:
        run.unlock()


def _logged(cfg: RunConfig, run: RunFolder, seeds: tuple[list[Instruction], int] | None,
            guard: NoveltyIndex | None, say: Callable[[str], None], resume: str | None) -> Summary:
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
        message = interrupted_message(run, resume)
        _stopped(run, "interrupted", message)
        raise KeyboardInterrupt(message) from None
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


def _stopped(run: RunFolder, message: str, logged: str | None = None) -> None:
    """Note why the run stopped (`logged`: a longer form for the log), where the storage still
    lets us: a full or read-only disk refuses this too, and then the console's message is the
    only record. Escaped: the text is the user's (a path, a command line), not markup."""
    try:
        progress.log(escape(logged or message))
        run.mark_error(message)
    except OSError:
        pass


def interrupted_message(run: RunFolder, resume: str | None) -> str:
    """Where an interrupted run stopped and how to go on: a bare exit code after Ctrl-C leaves
    a user wondering whether the work so far is lost."""
    try:
        state = run.state()
    except (OSError, ValueError):  # unreadable: say what holds anyway
        state = {"current": None, "done": []}
    if state["current"]:
        where = f" in {_place(run, state['current'])}"
    else:
        where = f" after {_place(run, state['done'][-1])}" if state["done"] else ""
    bar = progress.cut_short()
    how = f", run the same command again: {resume}" if resume else ", run the same command again."
    return (f"interrupted{where}" + (f" ({bar})" if bar and state["current"] else "")
            + ". Nothing finished is lost: every LLM answer is cached and training goes on from its last checkpoint."
            + f"\nTo resume{how}")


def _place(run: RunFolder, name: str) -> str:
    """A step as the user finds it in the run folder, e.g. `iter-02 imitation`."""
    k = iteration_of(name)
    if not k:
        return {"setup": "setup", "before": "the held-out evaluation before training"}.get(name, name)
    kind = name.partition(".")[2]
    closing = " (closing)" if kind.endswith(CLOSING) else ""
    return f"{run.iteration(k).root.name} {kind.removesuffix(CLOSING)}{closing}"


def _step(ctx: Context, step: Step, fn: Callable[[], object]) -> None:
    if ctx.run.is_done(step.name):
        return
    ctx.roles.set_stage(step.name)
    ctx.run.mark_started(step.name)
    fn()
    ctx.run.mark_done(step.name)


def _iterate(ctx: Context, seeds: tuple[list[Instruction], int] | None, guard: NoveltyIndex | None) -> Summary:
    cfg, run = ctx.cfg, ctx.run
    _step(ctx, SETUP, lambda: _setup(ctx, *seeds))
    heldout = read_jsonl(run.heldout_questions, HeldoutItem)
    plan = steps(cfg, bool(heldout))  # settled now that the held-out set is
    for k, group in groupby(plan[1:], key=lambda s: s.iteration):  # [0] is the setup
        group = list(group)
        todo = [s for s in group if not run.is_done(s.name)]
        if not todo:
            continue
        if k > 0:
            ctx.say(f"[bold]{'closing imitation' if group[0].closing else f'iteration {k}'}[/bold]")
        work = _Iteration(ctx, k, heldout, guard)
        for step in todo:
            if step.kind == "imitation":  # the other way to train this iteration's student, and its scores, are void
                run.forget([name for name in student_steps(k) if name != step.name])
            _step(ctx, step, lambda: getattr(work, step.kind)(step))
        if k > 0:
            ctx.say(iteration_line(summarize(run, plan, ctx.cache).iterations[-1]))
    return summarize(run, plan, ctx.cache)


class _Iteration:
    """What each kind of step of iteration k does (k = 0: before the first iteration)."""

    def __init__(self, ctx: Context, k: int, heldout: list[HeldoutItem], guard: NoveltyIndex | None):
        self.ctx, self.k, self.questions, self.guard = ctx, k, heldout, guard
        if k > 0:
            pools = ctx.run.pools(k - 1)
            self.train = read_jsonl(pools.train, Instruction)
            self.cache_pool = read_jsonl(pools.cache, Instruction)

    def imitation(self, step: Step) -> None:
        run_imitation(self.ctx, self.k, self.train, closing=step.closing)

    def discrimination(self, step: Step) -> None:
        ctx, k, judging = self.ctx, self.k, self.ctx.cfg.loop.judging
        items = judging.pool(self.train, self.cache_pool, held_back(ctx, k))
        stats = run_discrimination(ctx, k, list(items), ctx.student_dir(judging.student(k)), judging.pool_label)
        warning = split_warning(IterationRecord(iteration=k, hard=stats.hard, easy=stats.easy), ctx.cfg.loop)
        if warning:
            ctx.say(f"[yellow]{warning}[/yellow]")

    def generation(self, step: Step) -> None:
        ctx, k, run = self.ctx, self.k, self.ctx.run
        split = read_jsonl(run.iteration(k).discrimination.split, SplitRecord) if ctx.cfg.loop.uses_split else []
        new, _ = run_generation(ctx, k, self.cache_pool, split, {h.id for h in self.questions}, self.guard)
        write_jsonl(run.pools(k).train, new)  # X_A is replaced ...
        write_jsonl(run.pools(k).cache, self.cache_pool + new)  # ... X_B is extended

    def heldout(self, step: Step) -> None:
        ctx, k = self.ctx, self.k
        files = ctx.run.iteration(k).heldout if k else ctx.run.before
        name = f"iter {k}" if k else "before training"
        result = evaluate_heldout(ctx, ctx.student_dir(k), self.questions, name, files)
        if not k:
            ctx.say(f"held-out {name}: {heldout_text(result)}")
