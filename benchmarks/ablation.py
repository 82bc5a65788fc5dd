"""Does the referee pay for itself? Lion's variants against one-way distillation, at equal examples and priced.

Two `lion experiment`s on the arena world of `configs/ablation.yaml`, two runs at a time:

1. calibration, on --calibration-seeds, which the comparison then leaves out: Lion judging
   held-back instructions (`loop.judged: held_back`) at each hard share of --shares, and Lion
   with a DPO step on the referee's hard pairs (`loop.preference: dpo`) at each DPO learning
   rate of --dpo-rates; of each, the setting with the best mean relative score after the last
   iteration is chosen;
2. comparison, on --seeds: `one-way`, `balanced`, the paper's `lion`, `lion-held-back` at the
   paper's 1:1, and at the chosen share when that is not 1:1 (else `lion-unseen`), and
   `lion-dpo` at the chosen rate.

Every variant adds the same number of new instructions per iteration. It prints each
experiment's table of held-out scores, the paired differences from `one-way` and `balanced`,
and what each variant's teacher, referee and generator calls would cost at the roles' prices in
`configs/openai.yaml`; the plots are OUT/*/scores.png. Why the world and the sizes are what they
are: docs/benchmarks.md.

    python benchmarks/ablation.py [--seeds 1,2,3,4,5] [--calibration-seeds 101] [--shares 0.5,1.0] \
        [--dpo-rates 3e-5,1e-4,3e-4] [--jobs 2] [--out runs/ablation]

Started again with the same --out, finished runs are read back, not redone.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lion.observe.experiment import Variant, parse_seeds, parse_variant, run_experiment, to_markdown

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CONFIG, PRICES = CONFIGS / "ablation.yaml", CONFIGS / "openai.yaml"
FIXED = ("one-way", "balanced", "lion", "lion-held-back")


def held_back_at(share: float) -> Variant:
    name = "lion-held-back" if share == 0.5 else f"lion-held-back-{round(share * 100)}"
    return Variant(name=name, overrides=["loop.parents=referee", "loop.judged=held_back", f"loop.hard_share={share}"])


def dpo_at(rate: float) -> Variant:
    """Lion with the DPO step; the tiny student is imitated at 2e-3, so its DPO rates are far above
    the 1e-6 default meant for billion-parameter students."""
    return Variant(name=f"lion-dpo-{rate:g}", overrides=[*parse_variant("lion-dpo").overrides,
                                                         f"student.dpo.learning_rate={rate}", "student.dpo.batch_size=16"])


def final_score(results: dict, name: str) -> float:
    return results["table"][name][-1]["relative_score"]["mean"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--calibration-seeds", default="101")
    ap.add_argument("--shares", default="0.5,1.0", help="hard shares tried in the calibration")
    ap.add_argument("--dpo-rates", default="3e-5,1e-4,3e-4", help="DPO learning rates tried in the calibration")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/ablation"))
    args = ap.parse_args()
    start = time.monotonic()
    shares = [float(s) for s in args.shares.split(",")]
    rates = [float(r) for r in args.dpo_rates.split(",")]
    calibration, failures = run_experiment(CONFIG, [held_back_at(s) for s in shares] + [dpo_at(r) for r in rates],
                                           parse_seeds(args.calibration_seeds), args.out / "calibration", args.jobs,
                                           None, print)
    if failures:
        raise SystemExit("\n".join(failures))
    print(to_markdown(calibration))
    chosen = max(shares, key=lambda s: final_score(calibration, held_back_at(s).name))
    rate = max(rates, key=lambda r: final_score(calibration, dpo_at(r).name))
    print(f"calibration: hard share {chosen} and DPO rate {rate:g} have the best relative score after the last iteration")
    extra = held_back_at(chosen) if chosen != 0.5 else parse_variant("lion-unseen")
    dpo = Variant(name="lion-dpo", overrides=dpo_at(rate).overrides)
    variants = [parse_variant(v) for v in FIXED] + [extra, dpo]
    results, failures = run_experiment(CONFIG, variants, parse_seeds(args.seeds), args.out / "comparison", args.jobs,
                                       None, print, PRICES)
    print(to_markdown(results))
    print(f"wall time: {(time.monotonic() - start) / 60:.1f} min, {args.jobs} runs at a time; plots: "
          f"{args.out / 'calibration' / 'scores.png'}, {args.out / 'comparison' / 'scores.png'}")
    if failures:
        raise SystemExit("\n".join(failures))


if __name__ == "__main__":
    main()
