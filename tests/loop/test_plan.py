"""The step plan: what each variant runs, what `lion status` shows of it, and what it costs.

The heaviest test runs every built-in variant on a very small arena world and checks the plan's
call counts, step by step, against the calls each run recorded in its cache, and the estimate's
per-role totals against the run's.
"""

from pathlib import Path

import pytest

from lion.core.config import load_config
from lion.core.errors import LionError
from lion.core.records import Instruction, SplitRecord, read_jsonl
from lion.data.seeds import load_seeds
from lion.llm.dispatch import Role
from lion.loop.estimate import estimate, measured_completion_tokens
from lion.loop.plan import Calls, Sizes, calls, iteration_of, predicted_sizes, steps, work
from lion.loop.run_folder import RunFolder
from lion.loop.runner import run_loop
from lion.loop.stages.heldout import HeldoutItem, build_heldout
from lion.loop.variants import BUILT_IN
from lion.observe.status import collect
from paid_calls import paid_calls

CONFIG = Path(__file__).parents[2] / "configs" / "arena.yaml"
TINY = [
    "threads=1", "loop.iterations=2", "loop.new_per_iteration=8", "data.arena_size=24", "evaluation.heldout_size=10",
    "student.tiny.hidden_size=32", "student.tiny.layers=1", "student.tiny.heads=2", "student.train.epochs=1",
    "student.generate.max_new_tokens=24",
    # well-formed verdicts, so that no judgement is asked again and counts are exact
    "referee.arena.malformed_rate=0", "judge.arena.malformed_rate=0",
]


def names(variant: str, evaluates: bool = True, iterations: int = 2) -> list[str]:
    cfg = load_config(CONFIG, [*BUILT_IN[variant], f"loop.iterations={iterations}"])
    return [s.name for s in steps(cfg, evaluates)]


def test_each_variant_runs_the_steps_it_needs():
    # after the last generation, the closing imitation: iteration N + 1's, which an extended run does not redo
    assert names("lion") == ["setup", "before", "1.imitation", "1.discrimination", "1.generation", "1.heldout",
                             "2.imitation", "2.discrimination", "2.generation", "2.heldout", "3.imitation", "3.heldout"]
    for no_referee in ("one-way", "balanced"):
        assert names(no_referee, iterations=1) == ["setup", "before", "1.imitation", "1.generation", "1.heldout",
                                                   "2.imitation", "2.heldout"]
    assert names("single-order-referee", evaluates=False, iterations=1) == [
        "setup", "1.imitation", "1.discrimination", "1.generation", "2.imitation"]
    # judged unseen: the Train Pool is judged before the student trains on it
    assert names("lion-unseen", iterations=1) == ["setup", "before", "1.discrimination", "1.imitation", "1.generation",
                                                   "1.heldout", "2.imitation", "2.heldout"]
    # where iteration N + 1's imitation would differ (a slice held back; DPO on pairs judged first), the closing is its own
    assert names("lion-held-back", iterations=1)[-2:] == ["2.imitation:closing", "2.heldout:closing"]
    unseen_dpo = load_config(CONFIG, ["loop.judged=unseen", "loop.preference=dpo", "loop.iterations=1"])
    assert [s.name for s in steps(unseen_dpo, False)][-1] == "2.imitation:closing"
    assert [s.closing for s in steps(unseen_dpo, True)] == [False] * 6 + [True] * 2


def test_judged_unseen_pays_the_teacher_in_discrimination_and_the_referee_on_the_train_pool_only():
    cfg = load_config(CONFIG, ["loop.judged=unseen"])
    plan = {s.name: s for s in steps(cfg, True)}
    sizes = Sizes(train=7, cache=30, heldout=5)
    disc, imit = calls(plan["2.discrimination"], cfg, sizes), calls(plan["2.imitation"], cfg, sizes)
    assert (disc["teacher"].paid, disc["referee"].expected, imit["teacher"].paid) == (7, 14, 0)


def test_judged_unseen_without_a_referee_is_refused_with_its_line(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("loop:\n  parents: random\n  judged: unseen\n")
    with pytest.raises(LionError, match=r"run.yaml, line 3, field 'loop.judged': .*'unseen' needs a referee, and "
                                        r"loop.parents 'random' has none"):
        load_config(config)


def test_judged_held_back_judges_a_slice_of_the_train_pool_whose_answers_imitation_paid_for():
    cfg = load_config(CONFIG, ["loop.judged=held_back", "loop.held_back=0.3"])
    assert names("lion-held-back", iterations=1) == ["setup", "before", "1.imitation", "1.discrimination",
                                                      "1.generation", "1.heldout", "2.imitation:closing",
                                                      "2.heldout:closing"]
    plan = {s.name: s for s in steps(cfg, True)}
    sizes = Sizes(train=7, cache=30, heldout=5)
    disc, imit = calls(plan["2.discrimination"], cfg, sizes), calls(plan["2.imitation"], cfg, sizes)
    assert (disc["teacher"].expected, disc["teacher"].paid, disc["referee"].expected, imit["teacher"].paid) == (2, 0, 4, 7)
    assert calls(plan["2.discrimination"], cfg, Sizes(train=2, cache=30, heldout=5))["referee"].expected == 2  # 1 of 2


@pytest.mark.parametrize(("config", "problem"), [
    ("loop:\n  judged: held_back\n  new_per_iteration: 10\n  held_back: 0.96\n",
     r"line 4, field 'loop.held_back': holding back 0.96 of the 10 new instructions of an iteration "
     r"\(loop.new_per_iteration\) would leave none of them to train on"),
    ("loop:\n  judged: held_back\n  new_per_iteration: 10\n  held_back: 0.04\n",
     r"line 4, field 'loop.held_back': holding back 0.04 of the 10 .* would hold back none of them, so the referee"),
    ("loop:\n  parents: even\n  judged: held_back\n", r"line 3, field 'loop.judged': 'held_back' needs a referee"),
    ("loop:\n  parents: random\n  preference: dpo\n",
     r"line 3, field 'loop.preference': 'dpo' trains on the referee's verdicts, and loop.parents 'random' has no referee"),
    ("loop:\n  signal: student_loss\n", r"line 2, field 'loop.signal': 'student_loss' needs instructions the student "
     r"has not trained on, and with loop.judged 'cache_pool' it has trained on every one it judges: set loop.judged"),
    ("loop:\n  parents: random\n  judged: unseen\n  signal: student_loss\n",
     r"line 3, field 'loop.judged': 'unseen' needs a referee"),
    ("loop:\n  parents: random\n  signal: student_loss\n", r"line 3, field 'loop.signal': 'student_loss' splits "
     r"instructions for the generator's parents, and loop.parents 'random' draws them at random"),
    ("loop:\n  judged: held_back\n  signal: student_loss\n  preference: dpo\n", r"line 4, field 'loop.preference': "
     r"'dpo' trains on pairs of the teacher's and the student's answers, and loop.signal 'student_loss' compares none"),
    ("loop:\n  parents: random\n  allocation: learnable\n", r"line 3, field 'loop.allocation': 'learnable' chooses "
     r"among the hard instructions, and loop.parents 'random' has no hardness signal"),
    ("loop:\n  judged: held_back\n  signal: student_loss\n  loss_hard_share: 1.5\n",
     r"line 4, field 'loop.loss_hard_share': Input should be less than 1"),
    ("loop:\n  signal: oracle\n", r"line 2, field 'loop.signal': unknown signal 'oracle'; choose one of referee, "
     r"student_loss"),
])
def test_a_loop_setting_that_cannot_work_is_refused_with_its_line(tmp_path, config, problem):
    path = tmp_path / "run.yaml"
    path.write_text(config)
    with pytest.raises(LionError, match="run.yaml, " + problem):
        load_config(path)


def test_a_held_back_share_that_leaves_no_seed_to_judge_is_refused_before_the_run_folder(tmp_path):
    cfg = load_config(CONFIG, ["loop.judged=held_back", "loop.held_back=0.1", "data.arena_size=4"])
    with pytest.raises(LionError, match=r"^config field 'loop.held_back': holding back 0.1 of the 4 seed instructions "
                                        r"would hold back none of them, so the referee would judge nothing \(the first"):
        run_loop(cfg, tmp_path / "run", lambda m: None)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("train", ["student.train.method=lora", "student.train.processes=2"])
def test_dpo_on_an_adapter_or_in_several_processes_is_refused_before_the_run_folder(tmp_path, train):
    cfg = load_config(CONFIG, ["loop.preference=dpo", train])
    with pytest.raises(LionError, match=r"^config field 'loop.preference': the DPO step trains a full student in one "):
        run_loop(cfg, tmp_path / "run", lambda m: None)
    assert not (tmp_path / "run").exists()


def test_a_step_name_tells_its_iteration():
    plan = steps(load_config(CONFIG, ["loop.iterations=12"]), True)
    assert [iteration_of(s.name) for s in plan] == [s.iteration for s in plan]
    assert plan[-1].name == "13.heldout" and plan[-1].iteration == 13 and plan[-1].closing


def test_the_calls_of_a_step_follow_the_pools_it_works_on():
    cfg = load_config(CONFIG, ["loop.new_per_iteration=10", "loop.hard_share=0.3", "loop.max_attempts_factor=2.5",
                               "referee.parse_retries=2", "judge.parse_retries=1"])
    plan = {s.name: s for s in steps(cfg, True)}
    sizes = Sizes(train=7, cache=30, heldout=5)
    counted = {name: {role: (c.expected, c.at_most, c.paid) for role, c in calls(plan[name], cfg, sizes).items()}
               for name in ("before", "2.imitation", "2.discrimination", "2.generation", "2.heldout")}
    assert counted == {
        "before": {"teacher": (5, 5, 5), "judge": (10, 20, 10)},
        "2.imitation": {"teacher": (7, 7, 7)},
        "2.discrimination": {"teacher": (30, 30, 0), "referee": (60, 180, 60)},  # the teacher's answers are cached
        "2.generation": {"generator": (10, 8 + 18, 10)},  # 3 hard x 2.5 -> 8 attempts, 7 easy x 2.5 -> 18
        "2.heldout": {"teacher": (5, 5, 0), "judge": (10, 20, 10)},
    }
    one_order = load_config(CONFIG, ["loop.both_orders=false"])
    disc = next(s for s in steps(one_order, True) if s.kind == "discrimination")
    assert calls(disc, one_order, sizes)["referee"].expected == 30


def test_a_run_whose_questions_are_all_seeds_is_finished_when_its_steps_are(tmp_path):
    """Its held-out set is empty, so it has no held-out steps however the config names one."""
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"instruction": "Name a colour."}\n')
    cfg = load_config(CONFIG, ["loop.iterations=1", f"evaluation.heldout={questions}"])
    run = RunFolder(tmp_path / "run")
    run.root.mkdir()
    run.bind_config(cfg)
    run.heldout_questions.write_text("")  # setup left every question out, as each was a seed
    for name in ("setup", "1.imitation", "1.discrimination", "1.generation", "2.imitation"):
        run.mark_started(name)
        run.mark_done(name)
    st = collect(run.root)
    assert st.state == "finished" and st.eta is None
    assert [s.name for s in st.steps] == ["setup", "1.imitation", "1.discrimination", "1.generation", "2.imitation"]


def _sizes(run: RunFolder, k: int) -> Sizes:
    pools = run.pools(max(k, 1) - 1)
    return Sizes(train=len(read_jsonl(pools.train, Instruction)), cache=len(read_jsonl(pools.cache, Instruction)),
                 heldout=len(read_jsonl(run.heldout_questions, HeldoutItem)))


@pytest.mark.parametrize("variant", list(BUILT_IN))
def test_the_plan_counts_the_calls_every_variant_makes(tmp_path, monkeypatch, variant):
    """Counted as requests handed to the dispatcher: a repeated request (the tiny student gives
    the same answer twice) is answered by the cache and paid once, so paid calls may be fewer."""
    asked: dict[str, dict[str, int]] = {}
    run_calls = Role.run

    def counting(role: Role, calls: list, label: str):
        row = asked.setdefault(role.stage, {})
        row[role.name] = row.get(role.name, 0) + len(calls)
        return run_calls(role, calls, label)

    monkeypatch.setattr(Role, "run", counting)
    cfg = load_config(CONFIG, [*TINY, *BUILT_IN[variant]])
    run = RunFolder(tmp_path / variant)
    run_loop(cfg, run.root, lambda m: None)
    plan = steps(cfg, True)
    assert set(asked) <= {s.name for s in plan}  # no call outside a step of the plan
    for k in (1, 2) if cfg.loop.judged != "cache_pool" else ():  # each Train Pool or its held-back slice
        judged = {r.id for r in read_jsonl(run.iteration(k).discrimination.split, SplitRecord)}
        train = {i.id for i in read_jsonl(run.pools(k - 1).train, Instruction)}
        if cfg.loop.judged == "unseen":
            assert judged == train
        elif cfg.loop.judged == "held_back":
            assert judged == {i.id for i in read_jsonl(run.iteration(k).imitation.held_back, Instruction)}
            assert judged < train and len(judged) == round(len(train) * cfg.loop.held_back)
    for step in plan:
        counted = calls(step, cfg, _sizes(run, step.iteration))
        assert set(asked.get(step.name, {})) <= set(counted), step.name
        for role, c in counted.items():
            got = asked.get(step.name, {}).get(role, 0)
            assert paid_calls(run.root).get(step.name, {}).get(role, 0) <= got - c.answered_before
            if role == "generator":  # dropped replies are asked again, within the budget
                assert c.expected <= got <= c.at_most, (step.name, role)
            else:
                assert got == c.expected, (step.name, role)

    seeds, _ = load_seeds(cfg.data, cfg.loop.seed)
    heldout = [h.as_instruction() for h in build_heldout(cfg, seeds)]
    paid: dict[str, int] = {}
    for row in paid_calls(run.root).values():
        for role, n in row.items():
            paid[role] = paid.get(role, 0) + n
    measured = measured_completion_tokens(run.root)
    for r in estimate(cfg, seeds, heldout, calibration=measured):
        # the arena's generator fills every quota, so the pools are as predicted; a paid call
        # is missing only where the tiny student repeated an answer and the cache had the verdict
        assert paid.get(r.role, 0) <= r.calls_at_most, r.role
        if r.role == "generator":
            assert r.calls <= paid[r.role]
        elif r.role == "teacher":
            assert paid[r.role] == r.calls
        if r.role in measured:  # calibrated: the expected answer tokens are the measured mean's
            assert r.completion_tokens == round(r.calls * measured[r.role])


@pytest.mark.parametrize("variant", list(BUILT_IN))
def test_every_answer_the_teacher_is_paid_for_reaches_the_final_student(variant):
    """The teacher answers the seeds and N per iteration (and the held-out questions), and every
    generation's instructions are trained on by a later imitation: no step's output goes unread."""
    cfg = load_config(CONFIG, [*BUILT_IN[variant], "loop.iterations=3", "loop.new_per_iteration=40"])
    plan = steps(cfg, True)
    seeds, heldout = 100, 30
    teacher = sum(calls(s, cfg, predicted_sizes(cfg, seeds, heldout, max(s.iteration, 1))).get("teacher", Calls(0, 0)).paid
                  for s in plan)
    assert teacher == seeds + 3 * 40 + heldout
    imitated = {s.iteration for s in plan if s.kind == "imitation"}
    assert all(s.iteration + 1 in imitated for s in plan if s.kind == "generation")
    assert plan[-2].kind == "imitation" and plan[-2].closing and plan[-1].kind == "heldout"


def test_a_step_s_work_grows_with_what_it_trains_on_or_judges():
    """`lion status` scales a kind's last time by this: retrained from the base model, the student
    learns every pool so far; going on, the Train Pool alone; each judging mode judges its pool."""
    sizes = Sizes(train=20, cache=100, heldout=40)

    def work_of(kind: str, *overrides: str) -> int:
        cfg = load_config(CONFIG, list(overrides))
        return work(next(s for s in steps(cfg, True) if s.kind == kind), cfg, sizes)

    assert work_of("imitation") == 100 and work_of("imitation", "student.strategy=continue") == 20
    assert work_of("discrimination") == 100 and work_of("discrimination", "loop.judged=unseen") == 20
    assert (work_of("generation"), work_of("heldout"), work_of("setup")) == (200, 40, 1)
