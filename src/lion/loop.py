"""The Lion loop: setup, then per iteration imitation -> discrimination -> generation -> update.

Every step is skipped when `state.json` says it is done, so the same command resumes a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from lion import atomic
from lion.config import RunConfig
from lion.evaluation import HeldoutItem, build_heldout, evaluate_heldout
from lion.llm.cache import ResponseCache, add_usage
from lion.records import Instruction, read_jsonl, write_jsonl
from lion.roles import Roles, check_endpoints, shared_model_warning
from lion.run import RunFolder
from lion.seeds import load_seeds
from lion.questions import read_questions
from lion.similarity import NoveltyIndex
from lion.stages.context import Context
from lion.stages.discrimination import SplitRecord, run_discrimination
from lion.stages.generation import guard_index, run_generation
from lion.stages.imitation import run_imitation


def _setup(ctx: Context, seeds: list[Instruction], dupes: int) -> None:
    cfg, run = ctx.cfg, ctx.run
    msg = f"seed instructions: {len(seeds)}"
    ctx.say(msg + (f" ({dupes} duplicates dropped)" if dupes else ""))
    heldout = build_heldout(cfg, seeds)
    write_jsonl(run.root / "heldout.jsonl", heldout)
    if cfg.student.model == "arena-tiny" and not (run.base_student / "config.json").exists():
        from lion.arena import corpus
        from lion.arena.student_factory import build_tiny_student

        texts = corpus() + [s.instruction + " " + s.input for s in seeds]
        ctx.say("building the arena's tiny student")
        build_tiny_student(texts, run.base_student, cfg.student.tiny, cfg.loop.seed)
    write_jsonl(run.pools_dir(0) / "train.jsonl", seeds)
    write_jsonl(run.pools_dir(0) / "cache.jsonl", seeds)


def _heldout(ctx: Context) -> list[HeldoutItem]:
    return read_jsonl(ctx.run.root / "heldout.jsonl", HeldoutItem)


def _load_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def summarize(run: RunFolder, iterations: int, cache: ResponseCache) -> dict:
    """Rebuild summary.json from the step outputs and the cache, so it is right after any resume."""
    usage = cache.spend()
    summary = {"before": _load_json(run.root / "heldout" / "before.json"), "iterations": [], "spend": usage}
    for k in range(1, iterations + 1):
        d = run.iteration_dir(k)
        if not run.is_done(f"{k}.generation"):
            break
        disc = _load_json(d / "discrimination" / "stats.json")
        gen = _load_json(d / "generation" / "stats.json")
        train = read_jsonl(run.pools_dir(k - 1) / "train.jsonl", Instruction)
        cache = read_jsonl(run.pools_dir(k - 1) / "cache.jsonl", Instruction)
        summary["iterations"].append(
            {
                "iteration": k,
                "train_pool": len(train),
                "cache_pool": len(cache),
                "hard": disc["hard"],
                "easy": disc["easy"],
                "failed_judgements": disc["failed"],
                "mean_d": disc["mean_d"],
                "generated": gen["generated"],
                "kept": gen["kept"],
                "kept_from_hard": gen["kept_from_hard"],
                "kept_from_easy": gen["kept_from_easy"],
                "dropped": gen["dropped"],
                "notes": gen["notes"],
                "heldout": _load_json(d / "heldout.json"),
                "spend": _iteration_spend(usage["by_step"], k),
                "position_bias": _load_json(d / "discrimination" / "bias.json"),
            }
        )
    atomic.write_json(run.root / "summary.json", summary)
    return summary


def _iteration_spend(by_step: dict[str, dict], k: int) -> dict:
    out: dict = {}
    for step, row in by_step.items():
        if step.startswith(f"{k}."):
            add_usage(out, row)
    return out


def _describe(it: dict) -> str:
    dropped = ", ".join(f"{n} {why}" for why, n in sorted(it["dropped"].items(), key=lambda x: -x[1]))
    line = (
        f"iteration {it['iteration']}: Train Pool {it['train_pool']}, Cache Pool {it['cache_pool']}; "
        f"hard {it['hard']}, easy {it['easy']}"
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
        say(f"run folder: {out}")
        warning = shared_model_warning(cfg)
        if warning:
            say(f"[yellow]{warning}[/yellow]")
        cache = ResponseCache(run.cache_path)
        try:
            roles = Roles.from_config(cfg, cache)
            try:
                return _iterate(Context(cfg, run, cache, roles, say), seeds, guard)
            finally:
                roles.close()
        finally:
            cache.close()
    finally:
        run.unlock()


def _step(ctx: Context, name: str, fn: Callable[[], object]) -> None:
    if ctx.run.is_done(name):
        return
    ctx.roles.set_stage(name)
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
        _step(ctx, f"{k}.discrimination", lambda: run_discrimination(ctx, k, cache_pool))

        def generate() -> None:
            split = read_jsonl(run.iteration_dir(k) / "discrimination" / "split.jsonl", SplitRecord)
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
