"""How well the student's loss (IFD) finds what the student gets wrong: the calibration of
`loop.signal: student_loss`, on the held-back slices of finished arena runs.

For each run folder given and each iteration k with a held-back slice (`loop.judged: held_back`),
the student of iteration k (which has not trained on the slice) answers the slice greedily, the
arena marks each answer (1 to 10), and the student's IFD on the teacher's answer is computed as
the loop computes it. Printed per share s of `loop.loss_hard_share`: the mean mark of the IFD-hard
side and of the easy side, and the share of the truly wrong answers (marked under 5) that the hard
side holds; and over all slices, the AUC of IFD for "the student's answer is wrong" (0.5: no better
than chance). Where the runs have the oracle's scores (benchmarks/oracle.py), the rank correlation
of IFD with the student's score on the instruction's kind (negative: IFD is high where the kind
is weak).

    python benchmarks/ifd_agreement.py RUN [RUN ...] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from scipy.stats import spearmanr

from lion.arena import grade, parse
from lion.core.config import load_config
from lion.core.records import Instruction, Response, read_jsonl
from lion.llm.cache import ResponseCache
from lion.loop.answers import generate_answers
from lion.loop.run_folder import RunFolder
from lion.student.loss import answer_losses

sys.path.insert(0, str(Path(__file__).resolve().parent))
import oracle  # noqa: E402  (benchmarks/oracle.py: the oracle's runs name its signal in their config)

SHARES = (0.3, 0.5, 0.7)
RIGHT = 5.0  # the arena's mark from which an answer is right


def auc(scores: list[float], positive: list[bool]) -> float | None:
    """The chance that a positive scores above a negative (ties count half)."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return None
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def slices(folder: Path, threads: int) -> list[dict]:
    run = RunFolder(folder)
    cfg = load_config(run.root / "config.yaml")
    rows = []
    cache = ResponseCache(run.root / "ifd-agreement.sqlite")  # the student's answers, outside the run's own cache
    try:
        for k in range(1, cfg.loop.iterations + 1):
            it = run.iteration(k)
            if not it.imitation.held_back.exists() or not (it.student / "config.json").exists():
                continue
            items = read_jsonl(it.imitation.held_back, Instruction)
            teacher = {r.id: r.text for r in read_jsonl(it.imitation.teacher_answers, Response)}
            items = [i for i in items if teacher.get(i.id, "").strip()]
            answers = generate_answers(cache, it.student, items, cfg.student, threads, f"{folder.name} iter {k}: answers")
            losses = answer_losses(it.student, [(i.instruction, i.input, teacher[i.id]) for i in items],
                                   cfg.student.prompt_format, cfg.student.generate.batch_size, threads,
                                   f"{folder.name} iter {k}: loss")
            oracle = it.discrimination.root / "oracle.json"
            scores = json.loads(oracle.read_text())["score_by_kind"] if oracle.exists() else None
            for i, a, loss in zip(items, answers, losses):
                task = parse(i.instruction, i.input)
                rows.append({"run": str(folder), "k": k, "ifd": loss.ifd, "mark": grade(task, a),
                             "kind_score": scores.get(task.family) if scores and task else None})
    finally:
        cache.close()
    return rows


def by_slice(rows: list[dict]) -> dict[tuple[str, int], list[dict]]:
    out: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        out.setdefault((r["run"], r["k"]), []).append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    oracle.register()
    rows = [r for folder in args.runs for r in slices(folder, args.threads)]
    groups = by_slice(rows)
    print(f"{len(rows)} held-back instructions in {len(groups)} slices of {len(args.runs)} runs")
    print(f"AUC of IFD for a wrong answer: {auc([r['ifd'] for r in rows], [r['mark'] < RIGHT for r in rows]):.3f} "
          f"({sum(r['mark'] < RIGHT for r in rows)} wrong of {len(rows)})")
    scored = [r for r in rows if r["kind_score"] is not None]
    if scored:
        rho = spearmanr([r["ifd"] for r in scored], [r["kind_score"] for r in scored]).statistic
        print(f"Spearman correlation of IFD with the oracle's score of the kind: {rho:.3f} ({len(scored)} instructions)")
    print("| share hard | mean mark, hard side | mean mark, easy side | wrong answers on the hard side |")
    print("|---|---|---|---|")
    for share in SHARES:
        hard_marks, easy_marks, caught, wrong = [], [], 0, 0
        for group in groups.values():
            ranked = sorted(group, key=lambda r: -r["ifd"])
            n = min(max(round(share * len(ranked)), 1), len(ranked) - 1)
            hard, easy = ranked[:n], ranked[n:]
            hard_marks += [r["mark"] for r in hard]
            easy_marks += [r["mark"] for r in easy]
            caught += sum(r["mark"] < RIGHT for r in hard)
            wrong += sum(r["mark"] < RIGHT for r in group)
        print(f"| {share} | {statistics.fmean(hard_marks):.2f} | {statistics.fmean(easy_marks):.2f} | "
              f"{100 * caught / max(wrong, 1):.0f}% |")


if __name__ == "__main__":
    main()
