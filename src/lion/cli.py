"""The `lion` command: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from lion.core.errors import LionError, storage_error, storage_problem
from lion.core.progress import console
from lion.loop.variants import BUILT_IN

if TYPE_CHECKING:
    from lion.loop.summary import Summary

# typer (0.29) labels each parameter in --help with its Python type: "<bool>" beside a flag that
# takes no value (so "--preference <bool>" invites "--preference true", which is refused),
# "<list[str]>" beside a repeatable option, "<str>" beside an argument. Every parameter of every
# command gets a click-style placeholder here instead, in one place, so that a new option cannot
# bring the type names back. An option whose value has a form of its own is named here by flag.
PLACEHOLDERS = {"--set": "KEY=VALUE", "--variant": "NAME[=SETTINGS]", "--reference": "NAME=SOURCE",
                "--candidate": "NAME=SOURCE", "--seeds": "N,N,...", "--tasks": "TASK,...", "--fault-kinds": "KIND,..."}
TYPE_PLACEHOLDERS: dict[Any, str] = {str: "TEXT", int: "N", float: "FLOAT", Path: "PATH"}


def _type_placeholder(param: TyperArgument | TyperOption) -> str:
    """What a value of the parameter's type is called in help: the element's name for a list, which
    is repeated rather than written as one value, and the choices themselves where there are some."""
    desc = param.type_descriptor
    if desc.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    annotation = desc.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return "PATH" if desc.is_path else TYPE_PLACEHOLDERS.get(annotation, "VALUE")


class _Argument(TyperArgument):
    """An argument whose help shows the placeholder of its value, not typer's "<str>"; an argument has
    no metavar through which the type column could be set."""

    def display_type_rich(self, ctx: typer.Context) -> str | None:
        return _type_placeholder(self)


def _placehold(param: Any) -> None:
    """Give one parameter its help placeholder, unless it was given a metavar where it is declared.
    A flag gets none: it takes no value."""
    if isinstance(param, TyperOption) and param.metavar is None:
        flag = next((o for o in param.opts if o.startswith("--")), "")
        param.metavar = "" if param.is_flag else PLACEHOLDERS.get(flag) or _type_placeholder(param)
    elif type(param) is TyperArgument:
        param.__class__ = _Argument  # adds a method only: the object's state stays typer's
        if param.metavar is None:
            param.metavar = (param.name or "value").upper()  # as the commands' docstrings name them


class _Placeheld:
    """Placeholders for a command's parameters, its help option included, which click makes only
    when it is first asked for."""

    params: list[Any]

    def _placehold_all(self) -> None:
        for param in self.params:
            _placehold(param)

    def get_help_option(self, ctx: typer.Context) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            _placehold(option)
        return option


class LionCommand(_Placeheld, TyperCommand):
    """Every `lion` command: typer's, with click-style placeholders in its help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._placehold_all()


class LionGroup(_Placeheld, TyperGroup):
    """`lion` and its command groups: typer's, with click-style placeholders in their help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._placehold_all()


class LionTyper(typer.Typer):
    """A typer app whose commands are LionCommands, so that no command has to ask for it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=LionGroup, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", LionCommand)
        return super().command(*args, **kwargs)


app = LionTyper(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                context_settings={"help_option_names": ["-h", "--help"]},  # every command's, by inheritance
                help="Adversarial distillation of an API-only LLM into a small open model.")


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"lion-distill {version('lion-distill')}")  # to stdout, for scripts
        raise typer.Exit()


@app.callback()
def _options(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars or progress lines (also LION_QUIET=1); "
                                                              "messages and results still print")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the installed version and exit")] = False,
) -> None:
    if quiet:
        os.environ["LION_QUIET"] = "1"


SET_HELP = "override a config field: dotted.key=value (e.g. loop.iterations=2), repeatable"
THREADS_HELP = "torch CPU threads (default: all cores)"


def _say(msg: str) -> None:
    console.print(msg, highlight=False)


def _print_summary(summary: Summary, out: Path) -> None:
    from rich.table import Table

    from lion.loop.describe import RUN_END, before_record, cells, headers, spend_text

    table = Table(title="held-out scores", title_justify="left")
    for col in headers(RUN_END):
        table.add_column(col, justify="right")
    rows = ([before_record(summary.before)] if summary.before else []) + summary.iterations
    for record in rows:
        table.add_row(*cells(record, RUN_END))
    console.print(table)
    if summary.spend.total.calls:
        print(f"LLM calls: {spend_text(summary.spend.total)}")
    print(f"run folder: {out}")


def _check_out(out: Path) -> None:
    """Refuse an --out that cannot become a folder, before anything is read or written: a file
    there (or at a parent) would otherwise end in a traceback, often after the work was done."""
    blocker = next((p for p in (out, *out.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        where = "" if blocker == out else f", so {out} cannot be a folder"
        raise LionError(f"{blocker} is a file, not a folder{where}; choose another --out.")


def _run(config: Path | None, out: Path, overrides: list[str]) -> None:
    """Run or resume; on Ctrl-C, say where it stopped and how to resume, and exit 130 (typer
    would otherwise turn the interrupt into a silent exit 130)."""
    from lion.core.config import load_config
    from lion.loop.run_folder import RunFolder

    try:
        cfg = load_config(config, overrides)  # refuse a bad config before the heavy imports below
        _check_out(out)
        folder = RunFolder(out)
        folder.check_place()
        folder.check_free()
        from lion.loop.runner import run_loop

        summary = run_loop(cfg, out, _say, _command_line())
    except KeyboardInterrupt as stop:  # the run's own message, or, before it began, this one
        console.print(str(stop) or f"interrupted before the run began.\nTo resume, run the same command again: "
                      f"{_command_line()}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None
    _print_summary(summary, out)


def _command_line() -> str:
    """This process's command line as a user would type it again: `lion ...`, or `python -m lion ...`."""
    import shlex

    program = ["python", "-m", "lion"] if Path(sys.argv[0]).name == "__main__.py" else ["lion"]
    return shlex.join([*program, *sys.argv[1:]])


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="the run's YAML config")],
    out: Annotated[Path | None, typer.Option(help="run folder (default: runs/<config name>)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    threads: Annotated[int | None, typer.Option(min=1, help=THREADS_HELP + "; the same as --set threads=N")] = None,
) -> None:
    """Run (or resume) the Lion loop described by CONFIG."""
    _run(config, out or Path("runs") / config.stem, [*(set_ or []), *([f"threads={threads}"] if threads else [])])


@app.command()
def demo(
    out: Annotated[Path | None, typer.Option(help="run folder (default: runs/demo-seed<SEED>)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the arena and the loop")] = 42,
    iterations: Annotated[int, typer.Option(help="Lion iterations")] = 3,
    threads: Annotated[int | None, typer.Option(min=1, help=THREADS_HELP)] = None,
) -> None:
    """The whole loop offline on the built-in arena: no API key, no GPU, a few minutes."""
    overrides = [f"loop.seed={seed}", f"loop.iterations={iterations}"]
    if threads is not None:
        overrides.append(f"threads={threads}")
    with resources.as_file(resources.files("lion").joinpath("configs/demo.yaml")) as path:
        _run(path, out or Path("runs") / f"demo-seed{seed}", overrides)


@app.command()
def experiment(
    config: Annotated[Path, typer.Argument(help="the YAML config every variant starts from")],
    out: Annotated[Path, typer.Option(help="folder for the runs (VARIANT/seed-S), results.md/json and scores.png")],
    variant: Annotated[list[str], typer.Option(help="NAME (built-in) or NAME='dotted.key=value ...', repeatable; "
                                                   "built-in: " + ", ".join(BUILT_IN))],
    seeds: Annotated[str, typer.Option(help="comma-separated seeds, one run of every variant each")] = "1,2,3",
    jobs: Annotated[int, typer.Option(min=1, help="runs at a time, each in its own process")] = 1,
    threads: Annotated[int | None, typer.Option(min=1, help="torch threads per run (default: cores / jobs)")] = None,
    price_at: Annotated[Path | None, typer.Option(help="a config whose roles' prices the runs' LLM calls are priced "
                                                       "at, e.g. configs/openai.yaml: a cost table per variant")] = None,
) -> None:
    """Compare loop variants at an equal number of training examples, over several seeds."""
    from lion.observe.experiment import parse_seeds, parse_variant, run_experiment, to_markdown

    variants = [parse_variant(v) for v in variant]
    results, failures = run_experiment(config, variants, parse_seeds(seeds), out, jobs, threads, _say, price_at)
    console.print(to_markdown(results), highlight=False)
    print(f"results: {out / 'results.md'}, {out / 'scores.png'}")
    if failures:
        raise LionError(f"{len(failures)} of the runs stopped early; " + "; ".join(failures) + ".")


@app.command()
def status(
    run: Annotated[Path, typer.Argument(help="a run folder, running or not")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Where a run stands: steps, pools, hard/easy split, spend against the budget, failures, ETA."""
    from rich.console import Console

    from lion.observe.status import collect, show

    st = collect(run)
    if as_json:
        print(st.model_dump_json(indent=2))
        return
    show(st, Console())


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="a run folder, finished or not")],
    out: Annotated[Path | None, typer.Option(help="folder for report.md, report.html and plots/ (default: RUN/report)")] = None,
    hardest: Annotated[int, typer.Option(min=0, help="hardest instructions shown with both answers")] = 8,
) -> None:
    """Write a run's report: Markdown and a self-contained HTML page with plots."""
    from lion.observe.report import write_report

    if out is not None:
        _check_out(out)
    page = write_report(run, out, hardest)
    print(f"wrote {page} and {page.with_suffix('.md')}")


SETUPS = {"arena": "arena.yaml", "openai": "openai.yaml", "anthropic": "anthropic.yaml", "local": "local.yaml"}


@app.command()
def init(
    setup: Annotated[str, typer.Argument(help="arena (the offline arena: no key, no GPU), openai (an OpenAI-compatible API), anthropic "
                                              "(Claude through Anthropic's API), or local (Hugging Face models on "
                                              "this machine)")] = "arena",
    out: Annotated[Path, typer.Option(help="where to write the config")] = Path("lion.yaml"),
) -> None:
    """Write a commented starter config for a setup, to edit and then `lion run`."""
    import shlex

    from lion.core import atomic

    if setup not in SETUPS:
        raise LionError(f"unknown setup '{setup}'; choose one of {', '.join(SETUPS)}.")
    if out.exists():
        raise LionError(f"{out} already exists; choose another --out or remove it.")
    text = resources.files("lion").joinpath(f"configs/{SETUPS[setup]}").read_text(encoding="utf-8")
    # the shipped file's comments name it by its place in the repository; the copy names itself
    shown = shlex.quote(str(out))
    text = "\n".join(line.replace(f"configs/{SETUPS[setup]}", shown) if line.startswith("#") else line
                     for line in text.split("\n"))
    atomic.write_text(out, text)
    print(f"wrote {out}; check it with `lion estimate {shown}`, then `lion run {shown}`")


@app.command()
def estimate(
    config: Annotated[Path, typer.Argument(help="the run's YAML config")],
    set_: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    latency: Annotated[float | None, typer.Option(help="seconds per call (default: 1 s + max_tokens at 50 tokens/s)")] = None,
    calibrate: Annotated[Path | None, typer.Option(help="an earlier run folder: use its measured answer lengths "
                                                        "and the prompt tokens its servers billed")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Predict a run's calls, tokens, cost and time from its config and seeds, spending nothing."""
    import json

    from rich.console import Console

    from lion.core.config import load_config
    from lion.core.hub import HubUnreachable
    from lion.data.seeds import load_seeds
    from lion.loop.estimate import as_dicts, measured_completion_tokens, measured_prompts, stand_in_seeds
    from lion.loop.estimate import estimate as predict
    from lion.loop.estimate_table import guessed_seeds_note, show_estimate
    from lion.loop.run_folder import RunFolder
    from lion.loop.stages.heldout import build_heldout

    cfg = load_config(config, set_ or [])
    unread = None
    try:
        seeds, _ = load_seeds(cfg.data, cfg.loop.seed)
    except HubUnreachable as e:  # a Hub dataset, offline: estimate on data.limit seeds of a guessed length
        seeds, unread = stand_in_seeds(cfg.data, e), str(e)
    heldout = [h.as_instruction() for h in build_heldout(cfg, seeds)]
    if calibrate is not None and not RunFolder(calibrate).cache_path.exists():
        raise LionError(f"{calibrate}: not a run folder (no cache.sqlite).")
    measured = measured_completion_tokens(calibrate) if calibrate else None
    billing = measured_prompts(calibrate) if calibrate else None
    rows = predict(cfg, seeds, heldout, latency, measured, billing)
    if as_json:
        if unread:  # beside the JSON, not in it
            typer.echo(guessed_seeds_note(unread, len(seeds)), err=True)
        print(json.dumps(as_dicts(rows), indent=2))
        return
    show_estimate(Console(), rows, len(seeds), calibrate, cfg.budget.max_usd, unread)


@app.command()
def dedup(
    input: Annotated[Path, typer.Argument(help="instruction file: JSON array or JSONL (Alpaca, Self-Instruct, ...)")],
    out: Annotated[Path, typer.Option(help="where to write the records kept, in the input's format")],
    against: Annotated[list[Path] | None, typer.Option(help="pool file the input must be new against (repeatable)")] = None,
    threshold: Annotated[float, typer.Option(help="drop a record whose ROUGE-L is above this")] = 0.7,
    field: Annotated[str, typer.Option(help="the field holding the text ('turns' files use their first turn)")] = "instruction",
    dropped: Annotated[Path | None, typer.Option(help="also write the dropped records, with score and nearest")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="threads that compute LCS (default: all cores)")] = None,
) -> None:
    """Keep, in order, the records of INPUT that are novel against the pool and each other."""
    from lion.data.dedup import dedup as run_dedup

    r = run_dedup(input, against or [], out, threshold, field, dropped, threads or os.cpu_count() or 1)
    total = r.kept + r.dropped_vs_pool + r.dropped_vs_input
    print(f"kept {r.kept} of {total}; dropped {r.dropped_vs_pool} too close to the pool and "
          f"{r.dropped_vs_input} too close to an earlier record (ROUGE-L above {threshold:g}); wrote {out}")


@app.command("eval")
def evaluate(
    questions: Annotated[Path, typer.Option(help="questions: Vicuna/MT-bench (turns), Self-Instruct, or instruction JSONL")],
    reference: Annotated[str, typer.Option(help="NAME=SOURCE: the model every candidate is scored against")],
    candidate: Annotated[list[str], typer.Option(help="NAME=SOURCE, repeatable; SOURCE: an answers file, "
                                                     "CONFIG.yaml[:ROLE], a model folder, RUN[@K] or hf:NAME")],
    judge: Annotated[Path, typer.Option(help="a run config: its judge role judges, its student settings generate")],
    out: Annotated[Path, typer.Option(help="folder for answers, judgements, results.md/json, chart.png and the cache")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a field of the --judge config: "
                                                              "dotted.key=value, repeatable")] = None,
    turns: Annotated[int, typer.Option(min=1, help="turns of multi-turn questions (MT-bench) to answer and judge")] = 1,
) -> None:
    """Score candidates against a reference with a judge, overall and per category."""
    from lion.evaluation.compare import Evaluation, EvaluationFailed, run_evaluation, table_lines

    def show(evaluation: Evaluation) -> None:
        if evaluation.results:
            print("\n".join(table_lines(evaluation.reference, evaluation.results)))
        spent = ", ".join(f"{name} " + ("price unknown" if usd is None else f"${usd:,.2f}")
                          for name, usd in evaluation.spent_usd.items())
        print(f"spent in this run (a source's answers, and a candidate's judging): {spent}")
        print(f"wrote {out / 'results.md'}, {out / 'results.json'} and {out / 'chart.png'}")

    _check_out(out)
    try:
        evaluation = run_evaluation(questions, reference, candidate, judge, set_ or [], out, turns)
    except EvaluationFailed as e:  # the others were judged and written: show them, then the failure
        show(e.evaluation)
        raise
    show(evaluation)


@app.command("eval-harness")
def eval_harness(
    source: Annotated[Path, typer.Argument(help="a run folder (its last student, or --iteration) or a model folder")],
    tasks: Annotated[str, typer.Option(help="harness task names, comma-separated (e.g. bbh_zeroshot,agieval)")],
    out: Annotated[Path, typer.Option(help="folder for harness.json and harness.md")],
    iteration: Annotated[int | None, typer.Option(min=0, help="a run's iteration; 0 is the untrained base")] = None,
    include_path: Annotated[Path | None, typer.Option(help="a folder of task YAML files of your own")] = None,
    num_fewshot: Annotated[int, typer.Option(min=0, help="examples shown before each question (the paper: 0)")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="questions the student answers at once")] = 8,
    limit: Annotated[int | None, typer.Option(min=1, help="only the first N items of each task")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help=THREADS_HELP)] = None,
) -> None:
    """Run lm-evaluation-harness tasks (BIG-Bench Hard, AGIEval, ...) on a student."""
    from lion.evaluation.harness import metric_rows, run_harness
    from lion.evaluation.sources import student_of

    _check_out(out)
    result = run_harness(student_of(source, iteration), [t.strip() for t in tasks.split(",") if t.strip()], out, include_path, num_fewshot,
                         batch_size, limit, threads or os.cpu_count() or 1)
    for task, metrics in result["results"].items():
        print(f"{task}: " + ", ".join(f"{name} {value:.4f}" for name, value, _ in metric_rows(metrics)))
    print(f"wrote {out / 'harness.json'} and {out / 'harness.md'}")


@app.command()
def export(
    source: Annotated[Path, typer.Argument(help="a run folder, or one student folder")],
    out: Annotated[Path, typer.Option(help="the folder to write the student to, as full weights (new or empty)")],
    iteration: Annotated[int | None, typer.Option(min=1, help="the run's iteration (default: the last trained)")] = None,
) -> None:
    """Write a student as a plain Hugging Face model folder, merging a LoRA adapter into its base."""
    from lion.evaluation.sources import student_of
    from lion.student.export import export_student

    _check_out(out)
    student = student_of(source, iteration)
    merged = export_student(student, out)
    print(f"wrote {out} from {student}" + (" (the LoRA adapter merged into its base model)" if merged else ""))


@app.command("export-data")
def export_data(
    run: Annotated[Path, typer.Argument(help="a run folder")],
    out: Annotated[Path, typer.Option(help="the dataset folder to write (new or empty)")],
    format_: Annotated[str, typer.Option("--format", help="messages, alpaca or sharegpt")] = "messages",
    iteration: Annotated[int | None, typer.Option(min=1, help="export iterations 1..K (default: every finished one)")] = None,
    preference: Annotated[bool, typer.Option("--preference", help="also the pairs the teacher won, for DPO")] = False,
    push_to_hub: Annotated[str | None, typer.Option(help="upload to this dataset repository (token: HF_TOKEN)")] = None,
    private: Annotated[bool, typer.Option("--private", help="with --push-to-hub: a private repository")] = False,
) -> None:
    """Write a run's distilled data as a Hugging Face dataset folder (Parquet and a dataset card)."""
    import os

    from lion.observe import export_data as exporter

    if format_ not in exporter.FORMATS:
        raise LionError(f"--format {format_!r}: choose one of {', '.join(exporter.FORMATS)}.")
    if push_to_hub and not os.environ.get("HF_TOKEN", "").strip():  # before anything is written
        raise LionError("--push-to-hub needs a Hugging Face token in the environment variable HF_TOKEN.")
    rows = exporter.export_data(run, out, format_, iteration, preference)
    print(f"wrote {out}: " + ", ".join(f"{name} {n:,} rows" for name, n in rows.items()) + f", {out / 'README.md'}")
    if push_to_hub:
        print(f"uploaded to {exporter.push_to_hub(out, push_to_hub, private)}")


@app.command()
def batches(
    run: Annotated[Path, typer.Argument(help="a run folder")],
    cancel: Annotated[bool, typer.Option("--cancel", help="cancel the run's batches still in flight")] = False,
) -> None:
    """A run's batches (roles in mode: batch): state, requests, done and failed, cost."""
    from rich.console import Console
    from rich.table import Table

    from lion.llm.batches import BatchLedger, cancel_in_flight
    from lion.observe.status import open_run

    folder, cfg = open_run(run)
    if cancel:
        for line in cancel_in_flight(cfg, folder.cache_path):
            print(line)
        return
    ledger = BatchLedger(folder.cache_path, read_only=True) if folder.cache_path.exists() else None
    entries = ledger.entries() if ledger else []
    if ledger:
        ledger.close()
    if not entries:
        print(f"{run}: no batches (no role of this run is in mode: batch, or none has sent any yet).")
        return
    table = Table(title=f"batches of {run}", title_justify="left")
    for col in ("batch", "role", "step", "state", "requests", "done", "failed", "cost"):
        table.add_column(col, justify="left" if col in ("batch", "role", "step", "state") else "right")
    for e in entries:
        counts = e.counts or {}
        cost = "" if e.state != "collected" else "unknown" if e.cost_usd is None else f"${e.cost_usd:,.4f}"
        table.add_row(e.batch_id or f"(input {e.file_id}, not yet a batch)", e.role, e.stage, e.state, f"{len(e.keys):,}",
                      f"{counts.get('completed', 0):,}", f"{counts.get('failed', 0):,}", cost)
    Console().print(table)


arena_app = LionTyper(no_args_is_help=True, help="The offline arena, for programs outside this one.")
app.add_typer(arena_app, name="arena")

_SERVE_FLAGS = {"latency_s": "--latency", "fault_rate": "--fault-rate", "fault_kinds": "--fault-kinds",
                "retry_after_s": "--retry-after", "hang_s": "--hang", "seed": "--seed",
                "api_key_env": "--api-key-env", "arena": "--config", "cache_min_tokens": "--cache-min-tokens",
                "cache_ttl_s": "--cache-ttl"}
_BATCH_FLAGS = {"delay_s": "--batch-delay", "failure_rate": "--batch-failure-rate", "expiry_s": "--batch-expiry"}


def _arena_roles(config: Path | None) -> dict:
    """Each arena model's options, taken from the run config's role that uses that model."""
    if config is None:
        return {}
    from lion.arena.chat import MODELS
    from lion.core.config import load_config

    cfg, found = load_config(config), {}
    for role in ("teacher", "referee", "generator", "judge"):
        rc = getattr(cfg, role)
        if rc.model not in MODELS:
            continue
        first, options = found.setdefault(rc.model, (role, rc.arena))
        if options != rc.arena:
            raise LionError(f"{config}: {first} and {role} both use {rc.model} with different arena options.")
    return {model: options for model, (_, options) in found.items()}


@arena_app.command("serve")
def arena_serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one")] = 8000,
    latency: Annotated[float, typer.Option(help="seconds added to every completion")] = 0.0,
    fault_rate: Annotated[float, typer.Option(help="share of completion requests that fail, 0 to 1")] = 0.0,
    fault_kinds: Annotated[str, typer.Option(help="comma-separated faults, drawn uniformly; 529 (overloaded) is "
                                                  "drawn only when named")] = "429,500,hang,truncated,malformed",
    retry_after: Annotated[float, typer.Option(help="Retry-After seconds sent with a 429 or a 529")] = 1.0,
    hang: Annotated[float, typer.Option(help="seconds a hung request is held before it is dropped")] = 600.0,
    seed: Annotated[int, typer.Option(help="seed of the fault draw")] = 0,
    structured: Annotated[bool, typer.Option(help="serve JSON-schema replies; --no-structured refuses them")] = True,
    chat_template: Annotated[bool, typer.Option(help="bill prompts with a chat template's tokens, as servers of open "
                                                     "models do")] = False,
    api_key_env: Annotated[str | None, typer.Option(help="environment variable with the key clients must send")] = None,
    cache_min_tokens: Annotated[int, typer.Option(help="shortest prompt prefix the Anthropic routes cache, in "
                                                       "tokens")] = 1024,
    cache_ttl: Annotated[float, typer.Option(help="seconds a cached prompt prefix lives unread")] = 300.0,
    config: Annotated[Path | None, typer.Option(help="run config whose arena roles' options to use")] = None,
    batch_delay: Annotated[float, typer.Option(help="seconds a batch (of either API) takes to complete")] = 0.0,
    batch_failure_rate: Annotated[float, typer.Option(help="share of a batch's requests that fail, 0 to 1")] = 0.0,
    batch_expiry: Annotated[float | None, typer.Option(help="seconds after which a batch still running expires "
                                                             "with only part done")] = None,
) -> None:
    """Serve the arena over HTTP, speaking both OpenAI's API (chat completions, files, batches) and Anthropic's
    (messages with prompt caching, message batches) on the same port, with faults injected on demand."""
    from pydantic import ValidationError

    from lion.arena.server import ServeOptions, serve

    fields = {"latency_s": latency, "fault_rate": fault_rate, "retry_after_s": retry_after, "hang_s": hang,
              "fault_kinds": [k.strip() for k in fault_kinds.split(",") if k.strip()], "seed": seed,
              "api_key_env": api_key_env, "arena": _arena_roles(config), "structured": structured,
              "chat_template": chat_template, "cache_min_tokens": cache_min_tokens, "cache_ttl_s": cache_ttl,
              "batch": {"delay_s": batch_delay, "failure_rate": batch_failure_rate, "expiry_s": batch_expiry}}
    try:
        options = ServeOptions(**fields)
    except ValidationError as e:
        err = e.errors()[0]
        flag = _BATCH_FLAGS[err["loc"][1]] if err["loc"][0] == "batch" else _SERVE_FLAGS[err["loc"][0]]
        raise LionError(f"{flag}: {err['msg']}.") from None
    serve(options, host, port)


def main() -> None:
    try:
        app()
    except LionError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as e:
        problem = storage_problem(e)
        if problem is None:
            raise
        where = getattr(e, "filename", None) or "an output file"
        console.print(f"[red]error:[/red] {storage_error(where, problem)}", highlight=False, soft_wrap=True)
        sys.exit(2)
