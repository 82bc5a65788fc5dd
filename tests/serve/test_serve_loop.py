"""The loop against a real `transformers serve`: teacher and generator are a tiny model it
serves (see hf_serve), referee and judge the arena's server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lion.core.config import load_config
from lion.core.errors import LionError
from lion.llm.cache import ResponseCache
from lion.loop.runner import run_loop
from run_cli import lion

CONFIGS = Path(__file__).parents[2] / "configs"
SMALL = [
    "threads=1",
    "loop.iterations=1",
    "loop.new_per_iteration=4",
    "loop.max_attempts_factor=4",
    "data.arena_size=12",
    "evaluation.heldout_size=6",
    "student.tiny.hidden_size=64",
    "student.tiny.layers=2",
    "student.train.epochs=2",
    "student.train.save_steps=2",
]


def on_server(role: str, url: str, model: str | Path) -> list[str]:
    """A role of configs/arena-http.yaml moved to another OpenAI-compatible server."""
    return [f"{role}.model={model}", f"{role}.base_url={url}", f"{role}.timeout_s=60", f"{role}.max_attempts=3",
            f"{role}.backoff_s=0.05", f"{role}.backoff_max_s=0.2"]


def arena_roles(url: str, roles: tuple[str, ...] = ("referee", "judge")) -> list[str]:
    return [f"{role}.base_url={url}" for role in roles]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.exists() else []


def test_one_iteration_with_teacher_and_generator_on_transformers_serve(tmp_path, tiny_model, loaded, proxy, arena):
    sets = [*SMALL, *on_server("teacher", proxy.url, tiny_model), *on_server("generator", proxy.url, tiny_model),
            *arena_roles(arena.url)]
    command = ["run", str(CONFIGS / "arena-http.yaml"), "--out", "run", *(a for s in sets for a in ("--set", s))]
    first = lion(*command, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    out = tmp_path / "run"
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["iteration"], r["closing"]) for r in summary["iterations"]] == [(1, False), (2, True)]
    assert summary["iterations"][0]["kept"] >= 1  # some of the tiny model's replies passed the generator's filters

    # every answer the run paid for is one request the server answered, with the server's own token counts
    asked = proxy.completions()
    assert asked and all(e.status == 200 for e in asked)
    served: dict[str, dict] = {}
    for e in asked:
        role = {0.7: "teacher", 1.0: "generator"}[e.body["temperature"]]  # the two roles' temperatures in arena-http.yaml
        counts = served.setdefault(role, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0})
        counts["calls"] += 1
        counts["prompt_tokens"] += e.reply["usage"]["prompt_tokens"]
        counts["completion_tokens"] += e.reply["usage"]["completion_tokens"]
    cache = ResponseCache(out / "cache.sqlite", read_only=True)
    try:
        spend = cache.spend()["by_role"]
    finally:
        cache.close()
    for role in ("teacher", "generator"):
        assert {k: spend[role][k] for k in ("calls", "prompt_tokens", "completion_tokens")} == served[role], role
    # one request per Train Pool instruction (the closing imitation's too) and held-out question, each asked
    # once in the whole run (discrimination finds the Train Pool's answers cached)
    trained = sum(len(rows(out / "pools" / f"{k:02d}" / "train.jsonl")) for k in (0, 1))
    assert served["teacher"]["calls"] == trained + len(rows(out / "heldout.jsonl"))

    # the same command again: the run is finished, and neither server hears a single request for an answer
    arena_before = arena.stats()["requests"]
    again = lion(*command, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert proxy.completions() == asked
    assert arena.stats()["requests"] == arena_before
    assert json.loads((out / "summary.json").read_text()) == summary


def test_temperature_0_empty_answers_are_counted_and_never_trained_on(tmp_path, tiny_model, loaded, proxy, arena):
    """At temperature 0 the tiny model answers about half of the prompts with nothing, cut off at
    max_tokens, and the rest with one word and a proper end (see hf_serve).

    Intended behaviour (the empty-answer policy): an empty teacher answer is never trained on,
    whatever loop.cut_off_answers says; each one is written to the imitation stage's left-out
    records with its reason and counted in the iteration record (teacher_empty)."""
    sets = [*SMALL, "evaluation.heldout=none", "teacher.decoding.temperature=0", "teacher.decoding.max_tokens=8",
            *on_server("teacher", proxy.url, tiny_model), *arena_roles(arena.url, ("referee", "generator", "judge"))]
    out = tmp_path / "run"
    run_loop(load_config(CONFIGS / "arena-http.yaml", sets), out, lambda m: None)

    seeds = len(rows(out / "pools" / "00" / "train.jsonl"))
    replies = [e.reply["choices"][0] for e in proxy.completions()]
    assert len(replies) == seeds + len(rows(out / "pools" / "01" / "train.jsonl"))  # and the closing imitation's
    replies = replies[:seeds]  # iteration 1's imitation asked first
    empty = [r for r in replies if r["message"]["content"] == ""]
    said = [r for r in replies if r["message"]["content"].strip()]
    # the model's part: both kinds of answer came back from the server, as designed
    assert empty and said, replies
    assert all(r["finish_reason"] == "length" for r in empty) and all(r["finish_reason"] == "stop" for r in said)

    imitation = out / "iter-01" / "imitation"
    assert json.loads((imitation / "train.json").read_text())["examples"] == len(said)  # not one empty answer
    assert rows(imitation / "failed.jsonl") == []  # the server answered every request: nothing failed
    left_out = rows(imitation / "left_out.jsonl")
    assert len(left_out) == len(empty)
    assert all("empty" in json.dumps(r).lower() for r in left_out), left_out
    record = json.loads((out / "summary.json").read_text())["iterations"][0]
    assert record["teacher_empty"] == len(empty)
    assert record["teacher_cut_off"] == 0  # the non-empty answers all ended properly


def test_a_priced_teacher_stops_at_the_budget_without_passing_it(tmp_path, tiny_model, loaded, proxy, arena):
    """The tiny model's tokenizer is small, so the server counts more prompt tokens than a
    characters-per-token estimate; the budget must hold against the server's counts.

    Intended behaviour: the run stops before the call that could pass budget.max_usd, and
    neither the spend recorded in the cache nor the cost of what the server was asked passes it."""
    price_in, price_out, max_usd = 1000.0, 1000.0, 0.3  # dollars per million tokens: 0.1 cent a token
    sets = [*SMALL, "evaluation.heldout=none", "teacher.decoding.max_tokens=8", f"budget.max_usd={max_usd}",
            f"teacher.price.input_per_mtok={price_in}", f"teacher.price.output_per_mtok={price_out}",
            *on_server("teacher", proxy.url, tiny_model), *arena_roles(arena.url, ("referee", "generator", "judge"))]
    out = tmp_path / "run"
    with pytest.raises(LionError, match="budget"):
        run_loop(load_config(CONFIGS / "arena-http.yaml", sets), out, lambda m: None)

    asked = proxy.completions()
    # it stopped in the middle of the imitation stage's teacher calls
    assert 0 < len(asked) < len(rows(out / "pools" / "00" / "train.jsonl"))
    billed = sum(e.reply["usage"]["prompt_tokens"] * price_in + e.reply["usage"]["completion_tokens"] * price_out
                 for e in asked) / 1e6
    cache = ResponseCache(out / "cache.sqlite", read_only=True)
    try:
        spent = cache.spent_usd()
    finally:
        cache.close()
    assert spent == pytest.approx(billed)
    assert spent <= max_usd and billed <= max_usd, (spent, billed)
