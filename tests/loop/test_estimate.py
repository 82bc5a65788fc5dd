"""The budget against a server that bills a chat template, and `lion estimate` counting prompts as
the budget does: before a run, and calibrated on one, stopped or not.

The arena is served on localhost with `chat_template` on, so its `usage.prompt_tokens` holds a
template's markers and default system line besides the words: four characters a token
undercounts its teacher's short prompts as it undercounts a real server's.
"""

import asyncio
import io
import json
import re
from contextlib import AbstractContextManager
from pathlib import Path
from statistics import mean

import openai
import pytest
from rich.console import Console
from transformers import AutoTokenizer

from lion.arena.chat import ArenaChatModel
from lion.arena.server import ServeOptions, build_app, template_tokens
from lion.core.chat import Completion, Decoding, Usage, estimate_tokens
from lion.core.config import ArenaOptions, load_config
from lion.core.prompts import render
from lion.data.seeds import load_seeds
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import BudgetExceeded
from lion.loop.estimate import estimate, measured_completion_tokens, measured_prompts
from lion.loop.estimate_table import budget_note, cost_columns, round_up, short_tokens, show_estimate
from lion.loop.runner import run_loop
from lion.loop.stages.heldout import build_heldout
from lion.observe.status import collect
from lion.student.tiny import train_tokenizer
from local_server import serve_app
from run_cli import lion
from small_run import SMALL

CONFIGS = Path(__file__).parents[2] / "configs"
ROLES = ("teacher", "referee", "generator", "judge")
BUDGET = 1.0


def served(options: ServeOptions) -> AbstractContextManager[str]:
    """The arena's app behind a real uvicorn server on a free port, in a thread; its /v1 URL."""
    return serve_app(build_app(options))


def over_http(url: str) -> list[str]:
    # the teacher's prompts are priced, its answers free: only what a prompt is billed can pass the budget
    out = [*SMALL, "teacher.price.input_per_mtok=1000", "teacher.price.output_per_mtok=0", f"budget.max_usd={BUDGET}"]
    return out + [f"{role}.base_url={url}" for role in ROLES]


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    """A run over HTTP stopped by its budget, with the message it stopped with."""
    out = tmp_path_factory.mktemp("budget") / "run"
    with served(ServeOptions(chat_template=True)) as url:
        with pytest.raises(BudgetExceeded) as e:
            run_loop(load_config(CONFIGS / "arena-http.yaml", over_http(url)), out, lambda m: None)
    (out.parent / "message.txt").write_text(str(e.value))
    (out.parent / "url.txt").write_text(url)  # the endpoint its prompts were billed at
    return out


def test_a_server_billing_a_chat_template_cannot_pass_the_budget(stopped):
    message = (stopped.parent / "message.txt").read_text()
    cache = ResponseCache(stopped / "cache.sqlite", read_only=True)
    try:
        spent = cache.spent_usd()
        [billing] = cache.prompt_billing()
    finally:
        cache.close()
    # refused only when the next call's worst case does not fit with none in flight: the budget is spent up to that
    # call's worst case, which depends on which prompt came next (the order of concurrent calls), so no fixed margin
    assert 0.8 * BUDGET < spent <= BUDGET
    assert collect(stopped).spend.total.cost_usd <= BUDGET  # what `lion status` shows
    # the server billed half as much again as four characters a token counts: the old reservation
    assert billing["role"] == "teacher" and billing["prompt_tokens"] > 1.5 * billing["prompt_estimate"]
    figures = [float(x) for x in message.split("$")[1:5] for x in [x.split()[0].rstrip(":;,)")]]
    assert message.startswith("budget: $") and "the next teacher call could cost more than the $" in message
    assert figures[0] == pytest.approx(spent, abs=0.005) and figures[2] == BUDGET and figures[3] > figures[1]
    assert spent + figures[3] > BUDGET - 0.01 and figures[3] < 0.2 * BUDGET  # its worst case, to the cent shown


def test_estimate_bounds_prompts_as_the_budget_does_and_calibrates_on_what_was_billed(stopped):
    cfg = load_config(CONFIGS / "arena-http.yaml", over_http((stopped.parent / "url.txt").read_text()))
    seeds, _ = load_seeds(cfg.data, cfg.loop.seed)
    heldout = [h.as_instruction() for h in build_heldout(cfg, seeds)]
    cache = ResponseCache(stopped / "cache.sqlite", read_only=True)
    try:
        [billing] = cache.prompt_billing()
    finally:
        cache.close()
    billed = billing["prompt_tokens"] / billing["calls"]  # per teacher call in the stopped run

    before = {r.role: r for r in estimate(cfg, seeds, heldout)}["teacher"]
    assert before.prompt_tokens / before.calls < 0.75 * billed  # four characters a token: the undercount
    assert before.prompt_tokens_at_most / before.calls_at_most > billed  # the bound the budget reserves
    seed_prompts = [estimate_tokens(render("teacher", instruction=s.instruction, input=s.input)) for s in seeds]
    assert before.prompt_tokens_at_most == round(before.calls_at_most * mean(2 * e + 128 for e in seed_prompts))

    calibrated = estimate(cfg, seeds, heldout, calibration=measured_completion_tokens(stopped),
                          billing=measured_prompts(stopped))
    teacher = {r.role: r for r in calibrated}["teacher"]
    assert teacher.prompt_tokens / teacher.calls == pytest.approx(billed, rel=0.2)  # the seeds, not the same prompts
    assert billed < teacher.prompt_tokens_at_most / teacher.calls_at_most < before.prompt_tokens_at_most / before.calls_at_most
    assert {r.role for r in calibrated if r.completion_tokens is None} == {"referee", "generator", "judge"}


def test_calibrating_on_a_stopped_run_prints_what_it_cannot_know(stopped, tmp_path):
    args = ["estimate", str(CONFIGS / "arena.yaml"), "--calibrate", str(stopped),
            *[x for s in SMALL for x in ("--set", s)], "--set", "referee.price.input_per_mtok=1",
            "--set", "referee.price.output_per_mtok=1"]
    table = lion(*args, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "Traceback" not in table.stderr and "max prompt tok" in table.stdout
    assert f"{stopped} made no referee, generator, judge calls" in " ".join(table.stdout.split())
    rows = {r["role"]: r for r in json.loads(lion(*args, "--json", cwd=tmp_path).stdout)}
    assert rows["teacher"]["completion_tokens"] is not None and rows["generator"]["completion_tokens"] is None


def test_calibrating_on_a_run_without_generator_calls(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cache = ResponseCache(run / "cache.sqlite")
    for i, role in enumerate(("teacher", "referee", "judge")):
        cache.put(f"k{i}", f"arena-{role}", Completion("an answer of six words here", usage=Usage(80, 6)),
                  role=role, stage="before", cost_usd=0.0, endpoint="arena", prompt_estimate=40)
    cache.close()
    r = lion("estimate", str(CONFIGS / "arena.yaml"), "--calibrate", str(run), *[x for s in SMALL for x in ("--set", s)],
             cwd=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert f"{run} made no generator calls" in " ".join(r.stdout.split())


def test_a_model_that_counts_its_prompts_is_estimated_at_its_count(tmp_path):
    folder = tmp_path / "chat"
    tokenizer = train_tokenizer(["user", "assistant", "What is the sum of two numbers?", "Name a colour."], max_positions=64)
    tokenizer.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}:\n{{ m['content'] }}</s>\n{% endfor %}"
                               "{% if add_generation_prompt %}<s>assistant:\n{% endif %}")
    tokenizer.save_pretrained(folder)  # the tokenizer is all counting needs: no weights are loaded
    cfg = load_config(CONFIGS / "arena.yaml", [*SMALL, "teacher.backend=hf_local", f"teacher.model={folder}",
                                               "teacher.price.input_per_mtok=1", "teacher.price.output_per_mtok=1"])
    seeds, _ = load_seeds(cfg.data, cfg.loop.seed)
    heldout = [h.as_instruction() for h in build_heldout(cfg, seeds)]
    teacher = {r.role: r for r in estimate(cfg, seeds, heldout)}["teacher"]
    loaded = AutoTokenizer.from_pretrained(folder)
    counts = [len(loaded(loaded.apply_chat_template(
        [{"role": "user", "content": render("teacher", instruction=s.instruction, input=s.input)}],
        add_generation_prompt=True, tokenize=False), add_special_tokens=False).input_ids) for s in seeds]
    assert teacher.prompt_tokens == round(teacher.calls * mean(counts))
    assert teacher.prompt_tokens_at_most == round(teacher.calls_at_most * mean(counts))  # exact: no margin


def test_the_templated_arena_answers_as_before_and_bills_the_template():
    messages = [{"role": "user", "content": "What is the capital of Peru?"}]
    local = asyncio.run(ArenaChatModel("arena-teacher", ArenaOptions()).complete(messages, Decoding(0.7, 1.0, 64), 5))
    with served(ServeOptions(chat_template=True)) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=10)
        reply = client.chat.completions.create(model="arena-teacher", messages=messages, temperature=0.7,
                                               max_tokens=64, seed=5)
    assert reply.choices[0].message.content == local.text  # the same answer, byte for byte
    assert reply.usage.completion_tokens == local.usage.completion_tokens
    # six words, with ChatML's markers around the message and a default system line: 24 tokens,
    # where four characters a token counts 7
    assert reply.usage.prompt_tokens == local.usage.prompt_tokens + template_tokens(messages) == 24
    assert estimate_tokens(messages[0]["content"]) == 7


def test_the_batch_cost_is_half_the_list_price_unless_the_role_names_its_own(tmp_path):
    cfg = load_config(CONFIGS / "openai.yaml", [*SMALL, "data.seeds=arena", "evaluation.heldout=arena",
                                                "referee.price.input_per_mtok=3", "referee.price.output_per_mtok=12",
                                                "referee.price.batch_input_per_mtok=2", "referee.price.batch_output_per_mtok=4"])
    seeds, _ = load_seeds(cfg.data, cfg.loop.seed)
    heldout = [h.as_instruction() for h in build_heldout(cfg, seeds)]
    rows = {r.role: r for r in estimate(cfg, seeds, heldout, calibration={"teacher": 20, "referee": 40})}
    teacher, referee = rows["teacher"], rows["referee"]  # gpt-4o-mini from the table: $0.15 and $0.60 per million
    assert teacher.cost_usd == pytest.approx((teacher.prompt_tokens * 0.15 + teacher.completion_tokens * 0.60) / 1e6)
    assert teacher.batch_cost_usd == pytest.approx(teacher.cost_usd / 2)
    assert teacher.batch_cost_usd_at_most == pytest.approx(teacher.cost_usd_at_most / 2)
    assert referee.batch_cost_usd == pytest.approx((referee.prompt_tokens * 2 + referee.completion_tokens * 4) / 1e6)
    assert referee.batch_cost_usd_at_most == pytest.approx(
        (referee.prompt_tokens_at_most * 2 + referee.completion_tokens_at_most * 4) / 1e6)
    shown = lion("estimate", str(CONFIGS / "openai.yaml"), *[x for s in SMALL for x in ("--set", s)],
                 "--set", "data.seeds=arena", "--set", "evaluation.heldout=arena", cwd=tmp_path).stdout
    assert re.search(r"max cost\s*┃\s*max batch cost\s*┃\s*hours", shown), shown


def test_the_student_loss_signal_costs_no_referee_call_and_only_the_referee_changes():
    held_back = ["loop.judged=held_back"]
    rows = {}
    for name, extra in (("referee", held_back), ("student_loss", [*held_back, "loop.signal=student_loss"])):
        cfg = load_config(CONFIGS / "openai.yaml", ["data.seeds=arena", "data.arena_size=40", *extra])
        seeds, _ = load_seeds(cfg.data, 0)
        heldout = [h.as_instruction() for h in build_heldout(cfg, seeds)]
        rows[name] = {r.role: r for r in estimate(cfg, seeds, heldout)}
    assert rows["referee"]["referee"].calls > 0
    assert (rows["student_loss"]["referee"].calls, rows["student_loss"]["referee"].cost_usd_at_most) == (0, 0)
    for role in ("teacher", "generator", "judge"):
        assert rows["student_loss"][role] == rows["referee"][role]


def test_a_claude_referee_is_priced_at_the_cache_write_at_most_and_cached_only_past_the_model_s_minimum(tmp_path,
                                                                                                      monkeypatch):
    def rows(*more: str) -> dict:
        cfg = load_config(CONFIGS / "anthropic.yaml", ["data.seeds=arena", "data.arena_size=40", "evaluation.heldout=arena",
                                                       *more])
        seeds, _ = load_seeds(cfg.data, 0)
        heldout = [h.as_instruction() for h in build_heldout(cfg, seeds)]
        return {r.role: r for r in estimate(cfg, seeds, heldout, calibration=dict.fromkeys(ROLES, 30))}

    shipped = rows()
    referee, teacher = shipped["referee"], shipped["teacher"]  # claude-opus-4-6 at $5 / $25, claude-sonnet-4-6 at $3 / $15
    assert 0 < referee.cache_prefix_tokens < referee.cache_min_tokens == 4096 and not referee.cached
    assert referee.cost_usd == pytest.approx((referee.prompt_tokens * 5 + referee.completion_tokens * 25) / 1e6)
    assert referee.cost_usd_at_most == pytest.approx(
        (referee.prompt_tokens_at_most * 6.25 + referee.completion_tokens_at_most * 25) / 1e6)
    # the teacher's prompts have no system message: nothing to write to the cache, input price at most
    assert teacher.cache_prefix_tokens == 0
    assert teacher.cost_usd_at_most == pytest.approx(
        (teacher.prompt_tokens_at_most * 3 + teacher.completion_tokens_at_most * 15) / 1e6)
    # were the model to cache prefixes that short, the expected figures would read it from the cache at a tenth
    monkeypatch.setattr("lion.loop.estimate.cache_min_tokens", lambda model: 16)
    cached = rows()["referee"]
    assert cached.cached and cached.cost_usd == pytest.approx(
        referee.cost_usd - referee.calls * cached.cache_prefix_tokens * (5 - 0.5) / 1e6)
    assert cached.cost_usd_at_most == referee.cost_usd_at_most
    monkeypatch.undo()
    shown = lion("estimate", str(CONFIGS / "anthropic.yaml"), "--set", "data.seeds=arena", "--set", "data.arena_size=40",
                 cwd=tmp_path).stdout
    assert re.search(r"prompt cache: the referee's prompts share a prefix of about \d+ tokens \(system message and verdict "
                     r"schema\), under the 4,096 tokens claude-opus-4-6 caches, so billed as plain input", shown), shown


def shipped_openai(*more: str, calibration: dict[str, float] | None = None) -> list:
    """The starter OpenAI config at its own scale (three iterations of 6,000), on the arena's 300 seeds."""
    cfg = load_config(CONFIGS / "openai.yaml", ["data.seeds=arena", *more])
    seeds, _ = load_seeds(cfg.data, cfg.loop.seed)
    return estimate(cfg, seeds, [h.as_instruction() for h in build_heldout(cfg, seeds)], calibration=calibration)


def rendered(rows: list, width: int, calibrated: Path | None = None, max_usd: float | None = None) -> str:
    console = Console(width=width, file=io.StringIO())
    show_estimate(console, rows, 300, calibrated, max_usd)
    return console.file.getvalue()


@pytest.mark.parametrize("calibrated", [None, Path("runs/earlier")])
def test_every_dollar_figure_and_total_is_shown_in_full_at_80_columns(calibrated):
    rows = shipped_openai(calibration=dict.fromkeys(ROLES, 300) if calibrated else None)
    costs = cost_columns(calibrated is not None)
    totals = [sum(getattr(r, c) for r in rows) for c in costs]
    assert max(totals) > 1000  # thousands of dollars: the figures that were cut to `$2,47…`
    shown = rendered(rows, 80, calibrated)
    assert "…" not in shown
    for figure in [*(f"${t:,.2f}" for t in totals), *(f"${getattr(r, c):,.2f}" for r in rows for c in costs)]:
        assert figure in shown, (figure, shown)
    assert all(len(line) <= 80 for line in shown.splitlines() if line[:1] in "┏┃┡│└")
    # far narrower than any terminal, a figure folds onto a second line: still no figure is cut short
    assert "…" not in rendered(rows, 40, calibrated)


def test_lion_estimate_piped_at_80_columns_shows_the_totals_in_full(tmp_path):
    args = ["estimate", str(CONFIGS / "openai.yaml"), "--set", "data.seeds=arena"]
    shown = lion(*args, cwd=tmp_path, env={"COLUMNS": "80"})  # captured: a pipe, as `| cat` or `> file`
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(lion(*args, "--json", cwd=tmp_path).stdout)
    for field in ("cost_usd_at_most", "batch_cost_usd_at_most"):
        assert f"${sum(r[field] for r in rows):,.2f}" in shown.stdout, shown.stdout
    assert "…" not in shown.stdout


def test_a_worst_case_over_the_budget_says_what_the_budget_will_do(tmp_path):
    args = ["estimate", str(CONFIGS / "openai.yaml"), "--set", "data.seeds=arena"]
    shown = lion(*args, cwd=tmp_path).stdout  # budget.max_usd: 100, against thousands at worst
    worst = sum(r["cost_usd_at_most"] for r in json.loads(lion(*args, "--json", cwd=tmp_path).stdout))
    [line] = [line for line in shown.splitlines() if line.startswith("budget:")]
    assert line == (f"budget: the worst case, ${worst:,.2f}, is over budget.max_usd ($100.00), so the run may stop early: "
                    "it starts no call whose worst case would take its spending past $100.00, and stops with every "
                    "answer so far cached; to go on, run the same `lion run` command again with "
                    f"--set budget.max_usd={round_up(worst):g} added.")
    assert worst <= round_up(worst) < 1.1 * worst
    roomy = lion(*args, "--set", f"budget.max_usd={round_up(worst):g}", cwd=tmp_path).stdout
    assert "budget:" not in roomy and "max cost" in roomy
    unbudgeted = lion(*args, "--set", "budget.max_usd=null", cwd=tmp_path).stdout
    assert "budget:" not in unbudgeted


def test_the_budget_note_says_will_where_the_expected_cost_is_over_it_too():
    rows = shipped_openai(calibration=dict.fromkeys(ROLES, 300))
    expected, worst = sum(r.cost_usd for r in rows), sum(r.cost_usd_at_most for r in rows)
    assert expected < worst
    under = budget_note(rows, (expected + worst) / 2, calibrated=True)
    assert under.startswith(f"budget: the worst case, ${worst:,.2f}, is over budget.max_usd") and "may stop early" in under
    over = budget_note(rows, expected / 2, calibrated=True)
    assert f"and so is the expected cost, ${expected:,.2f}, so the run will stop early" in over
    assert budget_note(rows, worst, calibrated=True) is None
    assert f"budget.max_usd={round_up(worst):g} added" in rendered(rows, 80, Path("runs/earlier"), expected / 2)


@pytest.mark.parametrize("x, up", [(2522.12, 2600), (2600, 2600), (3.21, 3.3), (0.0412, 0.042), (100, 100), (99.01, 100)])
def test_a_suggested_budget_is_rounded_up_to_two_figures(x, up):
    assert round_up(x) == pytest.approx(up)


@pytest.mark.parametrize("n, shown", [(0, "0"), (9_999, "9,999"), (10_000, "10.0k"), (383_812, "384k"),
                                      (999_999, "1.00M"), (3_110_432, "3.11M"), (33_000_000, "33.0M"),
                                      (1_790_000_000, "1.79B"), (2_345_678_901_234, "2,346B"), (None, "?")])
def test_token_counts_are_shown_to_three_figures(n, shown):
    assert short_tokens(n) == shown
