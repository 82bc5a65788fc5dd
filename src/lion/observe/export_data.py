"""`lion export-data`: a run's distilled data as a Hugging Face dataset folder, with a card that says how it was made.

Two configs, each Parquet: `sft`, every instruction of the Train Pools of iterations 1..K whose
teacher answer imitation keeps for training (with loop.judged: held_back, iteration K's slice too,
which only iteration K + 1 trains on: the card says so), with that answer and its lineage (origin, parent, iteration, kind) and, where
the referee judged it, its latest verdict; and with `--preference`, `preference`, every judged
pair in which the referee scored the teacher's answer above the student's (d > 0), as TRL's
`DPOTrainer` reads them. The card (README.md) records the roles, the loop's settings, the counts
per iteration and origin, what the filters dropped, what was left out of training, the spend
and the held-out scores: what a reader needs to trust the data or make it again. It names no
path or key beyond what the run's config names.

The folder is written whole in a staging folder beside it and then moved into place, so an
export that fails leaves nothing behind.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Literal

import yaml

from lion.core import atomic
from lion.core.config import RunConfig
from lion.core.errors import LionError
from lion.core.records import Instruction, Response, SplitRecord, read_jsonl
from lion.loop.describe import dropped_text, percent
from lion.loop.run_folder import RunFolder
from lion.loop.stages.discrimination import judged_pairs
from lion.loop.stages.imitation import trainable
from lion.loop.summary import Summary, read_summary
from lion.observe.status import open_run

Format = Literal["messages", "alpaca", "sharegpt"]
FORMATS: tuple[Format, ...] = ("messages", "alpaca", "sharegpt")
ROLES = ("teacher", "referee", "generator", "judge")


def export_data(root: Path, out: Path, fmt: Format = "messages", iteration: int | None = None,
                preference: bool = False) -> dict[str, int]:
    """Write the dataset folder; returns the rows of each config written."""
    run, cfg = open_run(root)
    summary = read_summary(run)
    done = [it.iteration for it in summary.iterations] if summary else []
    k = _iteration(root, done, iteration)
    if preference and not cfg.loop.uses_split:
        raise LionError(f"{root}: --preference needs the referee's verdicts, and this run has no referee "
                        f"(its parents are {cfg.loop.parent_source.label}).")
    if preference and not cfg.loop.hardness.compares_answers:
        raise LionError(f"{root}: --preference needs pairs of the teacher's and the student's answers, and this run's "
                        f"signal ({cfg.loop.hardness.label}) compares none.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LionError(f"{out} exists and is not empty; choose a new --out folder.")
    verdicts = _verdicts(run, k)
    sft = [_sft_row(it, answer, verdicts.get(it.id), fmt) for it, answer in _trained(run, cfg, k)]
    late = _not_yet_trained(run, cfg, summary, k, sft)
    pairs = _pairs(run, k, fmt) if preference else None
    staging = out.with_name(f".{out.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _parquet(sft, staging / "sft" / "train.parquet")
        if pairs is not None:
            _parquet(pairs, staging / "preference" / "train.parquet")
        atomic.write_text(staging / "README.md", card(root, cfg, summary, k, fmt, sft, pairs, late))
        if out.exists():
            out.rmdir()  # empty, as checked above
        atomic.replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"sft": len(sft), **({"preference": len(pairs)} if pairs is not None else {})}


def _iteration(root: Path, done: list[int], asked: int | None) -> int:
    if not done:
        raise LionError(f"{root}: no iteration has finished yet, so there is no data to export.")
    if asked is None:
        return done[-1]
    if asked not in done:
        raise LionError(f"{root}: iteration {asked} has not finished (finished: {', '.join(map(str, done))}); "
                        "export a finished one.")
    return asked


def _trained(run: RunFolder, cfg: RunConfig, k: int) -> list[tuple[Instruction, Response]]:
    """Each instruction of the Train Pools of iterations 1..k with the teacher's answer, as trained
    on (empty answers, and those cut off unless loop.cut_off_answers is train, were not)."""
    out = []
    for j in range(1, k + 1):
        pool = {it.id: it for it in read_jsonl(run.pools(j - 1).train, Instruction)}
        for r in read_jsonl(run.iteration(j).imitation.teacher_answers, Response):
            if r.id in pool and trainable(r, cfg.loop.cut_off_answers):
                out.append((pool[r.id], r))
    return out


def _not_yet_trained(run: RunFolder, cfg: RunConfig, summary: Summary, k: int, sft: list[dict]) -> int:
    """How many of the rows no student up to iteration k has trained on: iteration k's held-back
    slice (loop.judged: held_back), which only iteration k + 1 trains on; none after the closing
    imitation, which holds nothing back."""
    last = next(it for it in summary.iterations if it.iteration == k)
    if not cfg.loop.judging.holds_back or last.closing or not run.iteration(k).imitation.held_back.exists():
        return 0
    held = {it.id for it in read_jsonl(run.iteration(k).imitation.held_back, Instruction)}
    return sum(row["id"] in held for row in sft)


def _verdicts(run: RunFolder, k: int) -> dict[str, tuple[int, SplitRecord]]:
    """The latest verdict on each instruction judged in iterations 1..k, with its iteration."""
    out: dict[str, tuple[int, SplitRecord]] = {}
    for j in range(1, k + 1):
        path = run.iteration(j).discrimination.split
        if path.exists():
            out.update({r.id: (j, r) for r in read_jsonl(path, SplitRecord)})
    return out


def _prompt(instruction: str, input_: str) -> str:
    return f"{instruction}\n\n{input_}" if input_ else instruction


def _sft_row(it: Instruction, answer: Response, verdict: tuple[int, SplitRecord] | None, fmt: Format) -> dict:
    if fmt == "alpaca":
        text = {"instruction": it.instruction, "input": it.input, "output": answer.text}
    elif fmt == "sharegpt":
        text = {"conversations": [{"from": "human", "value": _prompt(it.instruction, it.input)},
                                  {"from": "gpt", "value": answer.text}]}
    else:
        text = {"messages": [{"role": "user", "content": _prompt(it.instruction, it.input)},
                             {"role": "assistant", "content": answer.text}]}
    judged_in, v = verdict if verdict else (None, None)
    return {
        "id": it.id, **text, "origin": it.origin, "parent": it.parent, "iteration": it.iteration, "kind": it.kind,
        "finish_reason": answer.finish_reason, "judged_in": judged_in,
        "teacher_score": v.teacher_score if v else None, "student_score": v.student_score if v else None,
        "d": v.d if v else None, "ifd": v.ifd if v else None, "hard": v.hard if v else None,
    }


def _pairs(run: RunFolder, k: int, fmt: Format) -> list[dict]:
    """Every judged pair of iterations 1..k the teacher won (d > 0): prompt, chosen (the teacher's
    answer), rejected (the student's), the scores in both orders and d. Conversational, as
    DPOTrainer reads them, for the messages format; plain text otherwise."""
    out = []
    for j in range(1, k + 1):
        files = run.iteration(j).discrimination
        orders = {j["id"]: j for j in (json.loads(line) for line in files.judgements.read_text(encoding="utf-8").splitlines()
                                       if line.strip())} if files.judgements.exists() else {}
        for v, t, s in judged_pairs(run, j):
            if v.d is None or v.d <= 0:  # a signal that judged no pair (loop.signal: student_loss) has no d
                continue
            prompt = _prompt(t.instruction, t.input)
            if fmt == "messages":
                texts = {"prompt": [{"role": "user", "content": prompt}], "chosen": [{"role": "assistant", "content": t.text}],
                         "rejected": [{"role": "assistant", "content": s.text}]}
            else:
                texts = {"prompt": prompt, "chosen": t.text, "rejected": s.text}
            both = orders.get(v.id, {})
            out.append({"id": v.id, **texts, "iteration": j,
                        "teacher_first": _scores(both.get("teacher_first")), "student_first": _scores(both.get("student_first")),
                        "teacher_score": v.teacher_score, "student_score": v.student_score, "d": v.d, "hard": v.hard})
    return out


def _scores(order: dict | None) -> dict[str, float | None]:
    scores = (order or {}).get("scores") or {}
    return {"teacher": scores.get("teacher"), "student": scores.get("student")}


def _parquet(rows: list[dict], path: Path) -> None:
    from datasets import Dataset, disable_progress_bars  # imported only when writing: it is slow to import

    disable_progress_bars()  # one short write per config; the command says what it wrote
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows).to_parquet(str(path))


# --- the card -----------------------------------------------------------------------------------


def card(root: Path, cfg: RunConfig, summary: Summary, k: int, fmt: Format, sft: list[dict], pairs: list[dict] | None,
         late: int = 0) -> str:
    """The dataset card. `late`: rows of iteration k's held-back slice, in the data but not yet
    trained on by any student, which the card must not call trained on."""
    configs = [{"config_name": "sft", "data_files": [{"split": "train", "path": "sft/*.parquet"}], "default": True}]
    if pairs is not None:
        configs.append({"config_name": "preference", "data_files": [{"split": "train", "path": "preference/*.parquet"}]})
    loop = cfg.loop
    header = yaml.safe_dump({"configs": configs, "tags": ["lion-distill", "distillation", "synthetic"]}, sort_keys=False)
    its = [it for it in summary.iterations if it.iteration <= k]
    nxt = "the closing imitation" if k == loop.iterations else f"iteration {k + 1}"
    span = "iteration 1" if k == 1 else f"iterations 1 to {k}"
    students = "The student of iteration 1 was" if k == 1 else f"The students of {span} were"
    lines = [
        "---", header.rstrip(), "---", "",
        f"# Distilled data of the Lion run `{root.name}`", "",
        f"Made with lion-distill {_version()} by the Lion loop (imitation, discrimination, generation), {span}. "
        f"`sft`: the {len(sft)} instructions of the {'Train Pool' if k == 1 else 'Train Pools'} of {span} whose teacher answers "
        + ("imitation keeps for training" if late else "were trained on")
        + f" ({fmt} format), with their lineage and the referee's latest verdict where it judged them."
        + (f" {students} trained on all of them but {late}: iteration {k}'s held-back slice, kept out of its training "
           f"to be judged, which joins training in {nxt}." if late else ""),
    ]
    if pairs is not None:
        lines += ["", f"`preference`: {len(pairs)} pairs in which the referee scored the teacher's answer above the "
                  "student's (d > 0): `prompt`, `chosen` (the teacher's), `rejected` (the student's), each order's "
                  "scores and d, as TRL's `DPOTrainer` reads them."]
    lines += ["", "```python", "from datasets import load_dataset", "",
              'sft = load_dataset("PATH_OR_REPO", "sft", split="train")', "```", "", "## Roles", "",
              "| role | backend | model | temperature | top_p | max_tokens |", "|---|---|---|---|---|---|"]
    for role in ROLES:
        rc = getattr(cfg, role)
        d = rc.decoding
        lines.append(f"| {role} | {rc.backend} | {rc.model} | {d.temperature} | {d.top_p} | {d.max_tokens} |")
    lines += ["", "## The loop", "",
              f"- seeds: `{cfg.data.seeds}`" + (f" (limit {cfg.data.limit})" if cfg.data.limit else ""),
              f"- iterations: {k} exported of {loop.iterations + 1} planned ({loop.iterations} with generation, then "
              f"the closing imitation); {loop.new_per_iteration} new instructions asked per iteration",
              f"- parents of new instructions: {loop.parent_source.label}" + (", evenly over their kinds" if loop.even_kinds else ""),
              "- discrimination: the " + ("referee judges" if loop.calls_referee else "student scores the teacher's answers to")
              + f" the {loop.judging.pool_label}"
              + (f" ({loop.held_back} of each Train Pool, kept out of that iteration's training; it joins training in "
                 "the next iteration, the last slice in the closing imitation)" if loop.judging.holds_back else "")
              + (f"; hard when d = teacher - student ≥ τ = {loop.tau}; "
                 + ("each pair judged in both orders" if loop.both_orders else "each pair judged in one order")
                 if loop.calls_referee
                 else f"; split by {loop.hardness.label} ({loop.loss_hard_share})"),
              f"- hard share of new instructions: {loop.hard_share}",
              f"- novelty filter: ROUGE-L above {loop.rouge_threshold} to the pool drops an instruction; contamination "
              f"guard: {len(loop.guard)} question file(s)" + (f", ROUGE-L above {loop.guard_threshold}" if loop.guard else ""),
              f"- teacher answers cut off at max_tokens: {loop.cut_off_answers} (empty answers are never trained on)",
              "", "## Per iteration", "",
              "| iteration | Train Pool | seed | from hard | from easy | hard / judged | empty | cut off | kept / generated | "
              "dropped by the filters | held-out relative score % |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    origins = Counter((r["iteration"] + 1, r["origin"]) for r in sft)  # written in k, trained on in k + 1
    for it in its:
        judged = f"{it.hard}/{it.judged}" if it.judged is not None else ""
        score = percent(it.heldout.relative_score) if it.heldout and it.heldout.relative_score is not None else ""
        made = f"{it.kept}/{it.generated}" if it.generated is not None else ""
        lines.append(f"| {it.iteration}{' (closing)' if it.closing else ''} | {it.train_pool} | {origins[(it.iteration, 'seed')]} | "
                     f"{origins[(it.iteration, 'from-hard')]} | {origins[(it.iteration, 'from-easy')]} | {judged} | "
                     f"{it.teacher_empty or 0} | {it.teacher_cut_off or 0} | {made} | "
                     f"{dropped_text(it.dropped) if it.dropped else ''} | {score} |")
    before = summary.before.relative_score if summary.before else None
    if before is not None:
        lines += ["", f"Held-out relative score of the untrained student: {percent(before)}%."]
    lines += ["", "## Spend", "", "| role | calls | prompt tokens | answer tokens | cost |", "|---|---|---|---|---|"]
    for role, s in summary.spend.by_role.items():
        cost = "unknown" if s.cost_usd is None else f"${s.cost_usd:,.2f}"
        lines.append(f"| {role} | {s.calls:,} | {s.prompt_tokens:,} | {s.completion_tokens:,} | {cost} |")
    lines += ["", "Rows of `sft` hold `id`, the text, `origin` (seed, from-hard, from-easy), `parent`, `iteration` (when "
              "it was written), `kind`, `finish_reason`, and where judged `judged_in`, `teacher_score`, `student_score`, "
              "`d` (loop.signal: referee), `ifd` (loop.signal: student_loss) and `hard`.", ""]
    return "\n".join(lines)


def _version() -> str:
    try:
        return importlib.metadata.version("lion-distill")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


def push_to_hub(folder: Path, repo: str, private: bool) -> str:
    """Upload the folder as a dataset repository; the token comes from HF_TOKEN only."""
    token = os.environ.get("HF_TOKEN", "").strip()
    if not token:
        raise LionError("--push-to-hub needs a Hugging Face token in the environment variable HF_TOKEN.")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo, folder_path=str(folder), repo_type="dataset",
                      commit_message="Distilled data exported by lion-distill")
    return f"https://huggingface.co/datasets/{repo}"
