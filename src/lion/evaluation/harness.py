"""`lion eval-harness`: the paper's reasoning benchmarks (BIG-Bench Hard, AGIEval: zero-shot
accuracy) on a student, through EleutherAI's lm-evaluation-harness rather than a scorer of our
own. Any task the harness knows can be named, and tasks defined in local YAML files can be
added with `--include-path`. An optional extra: `pip install 'lion-distill[harness]'`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from lion.core import atomic
from lion.core.errors import LionError
from lion.student.model import cuda_bf16, is_adapter, library_bars_off

if TYPE_CHECKING:
    from lm_eval.tasks import TaskManager


def model_args(model: Path) -> str:
    """The harness's `hf` model arguments: a LoRA student is its base with the adapter on top."""
    dtype = "bfloat16" if cuda_bf16() else "float32"
    if is_adapter(model):
        base = json.loads((model / "adapter_config.json").read_text(encoding="utf-8"))["base_model_name_or_path"]
        return f"pretrained={base},peft={model},dtype={dtype}"
    return f"pretrained={model},dtype={dtype}"


def run_harness(
    model: Path, tasks: list[str], out: Path, include_path: Path | None = None, num_fewshot: int = 0,
    batch_size: int = 8, limit: int | None = None, threads: int = 1,
) -> dict:
    """Run the tasks on the model; writes `harness.json` and `harness.md` to `out`."""
    try:
        import lm_eval
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise LionError("lion eval-harness needs lm-evaluation-harness: pip install 'lion-distill[harness]'.") from None
    if any("," in str(p) for p in (model, include_path or "")):
        raise LionError(f"{model}: the harness reads model arguments split at commas; use a path without one.")
    manager = TaskManager(include_path=str(include_path)) if include_path else TaskManager()
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise LionError(f"unknown harness task{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                        "(a task of your own needs --include-path to the folder of its YAML file).")
    check_tasks_load(tasks, manager)
    torch.set_num_threads(threads)
    with library_bars_off():
        found = lm_eval.simple_evaluate(
            model="hf", model_args=model_args(model), tasks=tasks, task_manager=manager, num_fewshot=num_fewshot,
            batch_size=batch_size, limit=limit, device="cuda" if torch.cuda.is_available() else "cpu",
        )
    scores = {task: {k: v for k, v in metrics.items()
                     if k != "sample_len" and isinstance(v, (int, float)) and not isinstance(v, bool)}
              for task, metrics in found["results"].items()}
    items = {task: metrics.get("sample_len") for task, metrics in found["results"].items()}
    result = {"model": str(model), "tasks": tasks, "num_fewshot": num_fewshot, "limit": limit, "items": items,
              "results": scores}
    atomic.write_json(out / "harness.json", result)
    atomic.write_text(out / "harness.md", markdown(result))
    return result


def check_tasks_load(tasks: list[str], manager: TaskManager) -> None:
    """Build each task before the model is loaded, so that a data set out of reach (offline, or
    unknown to the Hub) is one sentence naming its task, at once, not a traceback after the
    model has loaded. The harness builds them again; the data sets are cached by then."""
    from lm_eval.tasks import get_task_dict

    for task in tasks:
        try:
            with warnings.catch_warnings():  # deprecated in newer releases, but the one call all of them have
                warnings.simplefilter("ignore", DeprecationWarning)
                get_task_dict([task], manager)
        except OSError as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise LionError(f"harness task {task} could not be loaded: {reason}.") from None


def markdown(result: dict) -> str:
    lines = [f"# lm-evaluation-harness: {result['model']}", "",
             f"{result['num_fewshot']}-shot" + (f", first {result['limit']} items per task" if result["limit"] else ""), "",
             "| task | items | metric | value | stderr |", "|---|---|---|---|---|"]
    for task, metrics in result["results"].items():
        for name, value, stderr in metric_rows(metrics):
            lines.append(f"| {task} | {result['items'].get(task) or ''} | {name} | {value:.4f} | "
                         f"{'' if stderr is None else f'{stderr:.4f}'} |")
    return "\n".join(lines) + "\n"


def metric_rows(metrics: dict) -> list[tuple[str, float, float | None]]:
    """(metric, value, stderr) from the harness's "acc,none" and "acc_stderr,none" keys; a filter
    other than none stays in the name."""
    rows = []
    for key, value in metrics.items():
        name, _, filt = key.partition(",")
        if not name.endswith("_stderr"):
            rows.append((name if filt in ("", "none") else f"{name} ({filt})", value, metrics.get(f"{name}_stderr,{filt}")))
    return rows
