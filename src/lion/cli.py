"""The `lion` command: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Optional

import typer

from lion.errors import LionError
from lion.progress import console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Adversarial distillation of an API-only LLM into a small open model.")


def _say(msg: str) -> None:
    console.print(msg, highlight=False)


def _print_summary(summary: dict, out: Path) -> None:
    from rich.table import Table

    table = Table(title="held-out scores", title_justify="left")
    for col in ("iteration", "Train Pool", "Cache Pool", "hard", "easy", "kept", "exact match %", "relative score %"):
        table.add_column(col, justify="right")
    before = summary.get("before")
    if before:
        table.add_row("before", "", "", "", "", "", str(before["exact_match"]), str(before["relative_score"]))
    for it in summary["iterations"]:
        h = it.get("heldout") or {}
        table.add_row(str(it["iteration"]), str(it["train_pool"]), str(it["cache_pool"]), str(it["hard"]),
                      str(it["easy"]), str(it["kept"]), str(h.get("exact_match", "")), str(h.get("relative_score", "")))
    console.print(table)
    print(f"run folder: {out}")


def _run(config: Path | None, out: Path, overrides: list[str]) -> None:
    from lion.config import load_config

    cfg = load_config(config, overrides)  # refuse a bad config before the heavy imports below
    from lion.loop import run_loop

    summary = run_loop(cfg, out, _say)
    _print_summary(summary, out)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="the run's YAML config")],
    out: Annotated[Optional[Path], typer.Option(help="run folder (default: runs/<config name>)")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override a field: dotted.key=value")] = None,
) -> None:
    """Run (or resume) the Lion loop described by CONFIG."""
    _run(config, out or Path("runs") / config.stem, set_ or [])


@app.command()
def demo(
    out: Annotated[Optional[Path], typer.Option(help="run folder (default: runs/demo-seed<SEED>)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the arena and the loop")] = 42,
    iterations: Annotated[int, typer.Option(help="Lion iterations")] = 3,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (default: all cores)")] = None,
) -> None:
    """The whole loop offline on the built-in arena: no API key, no GPU, a few minutes."""
    overrides = [f"loop.seed={seed}", f"loop.iterations={iterations}"]
    if threads is not None:
        overrides.append(f"threads={threads}")
    with resources.as_file(resources.files("lion").joinpath("configs/arena.yaml")) as path:
        _run(path, out or Path("runs") / f"demo-seed{seed}", overrides)


def main() -> None:
    try:
        app()
    except LionError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted: run the same command again to resume where it stopped")
        sys.exit(130)
