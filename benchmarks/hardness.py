"""Which hardness signal and which allocation pay for themselves, against an oracle, at equal examples.

The protocol of issue 27, on the arena's procedural world (`configs/ablation.yaml`), two runs
at a time; every run is an ordinary run folder, so a killed benchmark resumes where it stopped
when started again with the same --out.

1. World check, on --calibration-seeds, which the comparison leaves out. For each candidate
   world of WORLDS, in order: `one-way`, `oracle-hard` and `oracle-learnable` (benchmarks/oracle.py:
   the student's true accuracy per kind as the hardness signal). A world can answer the question
   when (a) one-way's relative score rises by at least 5 points from the first iteration to the
   last, and (b) the better oracle's gain over one-way at the end, seed by seed, would be
   resolved by 5 seeds: its mean exceeds the half-width of a 5-seed 95% t-interval with the
   spread the calibration seeds show. The first world that meets both is taken; when none does,
   the numbers are printed and the benchmark stops there: that is its result.
2. Comparison, on --seeds, in the world taken: one-way, balanced, the paper's lion, the two
   oracles, the referee judging held-back slices with each allocation (lion-held-back,
   lion-held-back-learnable) and the student's loss with each (student-loss,
   student-loss-learnable); priced at configs/openai.yaml; each variant's gain over one-way,
   and that gain as a share of the better oracle's.

    python benchmarks/hardness.py [--seeds 1,2,3,4,5] [--calibration-seeds 101,102,103] [--jobs 2] \
        [--out runs/hardness]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

from scipy import stats as scistats

from lion.observe.experiment import Variant, parse_seeds, parse_variant, run_experiment, to_markdown

sys.path.insert(0, str(Path(__file__).resolve().parent))
import oracle  # noqa: E402  (benchmarks/oracle.py: registers the signal in this process)

HERE = Path(__file__).resolve()
CONFIGS = HERE.parents[1] / "configs"
CONFIG, PRICES = CONFIGS / "ablation.yaml", CONFIGS / "openai.yaml"
# candidate worlds, cheapest first: overrides laid on configs/ablation.yaml
WORLDS: dict[str, tuple[str, ...]] = {
    "mixed-200": ("data.arena_facts=true", "data.arena_size=200", "loop.iterations=4"),
    "mixed-200-wide": ("data.arena_facts=true", "data.arena_size=200", "loop.iterations=4", "student.tiny.hidden_size=256"),
}
RISE = 5.0  # condition (a): points of relative score one-way gains from the first iteration to the last
SEEDS_TO_RESOLVE = 5  # condition (b): the comparison's seed count
ORACLES = ("oracle-hard", "oracle-learnable")
COMPARED = ("one-way", "balanced", "lion", "lion-held-back", "lion-held-back-learnable", "student-loss",
            "student-loss-learnable")


def oracle_variant(name: str, world: tuple[str, ...]) -> Variant:
    allocation = name.removeprefix("oracle-")
    return Variant(name=name, command=[sys.executable, str(HERE.parent / "oracle.py")],
                   overrides=[*world, "loop.parents=referee", "loop.hard_share=0.5", "loop.judged=held_back",
                              "loop.signal=oracle", f"loop.allocation={allocation}"])


def built_in(name: str, world: tuple[str, ...]) -> Variant:
    v = parse_variant(name)
    return Variant(name=name, overrides=[*world, *v.overrides])


def final(results: dict, name: str, seed: int) -> float:
    return results["runs"][name][seed][-1]["relative_score"]


def gains(results: dict, name: str) -> list[float]:
    """Seed by seed, the variant's relative score after its last iteration minus one-way's."""
    seeds = results["plan"]["seeds"]
    return [final(results, name, s) - final(results, "one-way", s) for s in seeds]


def resolvable(diffs: list[float]) -> tuple[bool, float]:
    """Whether a mean gain this large would clear a 5-seed 95% t-interval with this spread."""
    half = scistats.t.ppf(0.975, SEEDS_TO_RESOLVE - 1) * statistics.stdev(diffs) / math.sqrt(SEEDS_TO_RESOLVE)
    return statistics.fmean(diffs) > half, half


def check_world(name: str, results: dict) -> bool:
    """Conditions (a) and (b), printed with their numbers; (b) is judged on the better oracle,
    the one with the higher mean gain, and the other's reading is printed beside it."""
    one_way = results["table"]["one-way"]
    first = next(r for r in one_way if r["iteration"] == 1)["relative_score"]["mean"]
    rise = one_way[-1]["relative_score"]["mean"] - first
    print(f"world {name}: (a) one-way rises {rise:+.1f} points from iteration 1 to {one_way[-1]['iteration']} "
          f"({'meets' if rise >= RISE else 'misses'} {RISE})")
    best = max(ORACLES, key=lambda o: statistics.fmean(gains(results, o)))
    for o in ORACLES:
        diffs = gains(results, o)
        ok, half = resolvable(diffs)
        print(f"  (b) {o}{' (the better)' if o == best else ''} gains {statistics.fmean(diffs):+.1f} over one-way "
              f"(seeds: {', '.join(f'{d:+.1f}' for d in diffs)}); a 5-seed interval's half-width would be {half:.1f}: "
              f"{'resolved' if ok else 'not resolved'}")
    return rise >= RISE and resolvable(gains(results, best))[0]


def share_table(results: dict) -> str:
    best = max(ORACLES, key=lambda o: statistics.fmean(gains(results, o)))
    top = statistics.fmean(gains(results, best))
    lines = [f"| variant | gain over one-way | share of {best}'s gain |", "|---|---|---|"]
    for name in results["table"]:
        if name == "one-way":
            continue
        g = statistics.fmean(gains(results, name))
        lines.append(f"| {name} | {g:+.1f} | {100 * g / top:.0f}% |" if top > 0 else f"| {name} | {g:+.1f} | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--calibration-seeds", default="101,102,103")
    ap.add_argument("--worlds", default=",".join(WORLDS), help="candidate worlds to check, in order")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/hardness"))
    args = ap.parse_args()
    oracle.register()
    start = time.monotonic()
    chosen = None
    for name in args.worlds.split(","):
        world = WORLDS[name]
        variants = [built_in("one-way", world), *(oracle_variant(o, world) for o in ORACLES)]
        results, failures = run_experiment(CONFIG, variants, parse_seeds(args.calibration_seeds),
                                           args.out / "worlds" / name, args.jobs, None, print)
        if failures:
            raise SystemExit("\n".join(failures))
        print(to_markdown(results))
        if check_world(name, results):
            chosen = name
            break
    if chosen is None:
        print(f"no candidate world meets both conditions; the comparison is not run "
              f"({(time.monotonic() - start) / 60:.1f} min)")
        return
    world = WORLDS[chosen]
    variants = [built_in(v, world) for v in COMPARED] + [oracle_variant(o, world) for o in ORACLES]
    results, failures = run_experiment(CONFIG, variants, parse_seeds(args.seeds), args.out / "comparison", args.jobs,
                                       None, print, PRICES)
    print(to_markdown(results))
    print(share_table(results))
    print(f"world {chosen}; wall time {(time.monotonic() - start) / 60:.1f} min, {args.jobs} runs at a time")
    if failures:
        raise SystemExit("\n".join(failures))


if __name__ == "__main__":
    main()
