"""How an iteration's record reads: the sentence for a split that says nothing, and the runner that prints it."""

import pytest

from lion.core.config import LoopConfig
from lion.loop import runner
from lion.loop.describe import DEGENERATE_SIDE, REPORT, STATUS, cells, headers, split_warning
from lion.loop.stage_results import DiscriminationResult
from lion.loop.summary import IterationRecord

REFEREE = LoopConfig()  # the paper: the referee judges the Cache Pool
REFEREE_HELD_BACK = LoopConfig(judged="held_back")
LOSS = LoopConfig(signal="student_loss", judged="held_back")


def split(hard: int, easy: int, k: int = 1) -> IterationRecord:
    return IterationRecord(iteration=k, hard=hard, easy=easy)


def test_almost_all_easy_on_the_cache_pool_names_the_parents_tau_and_the_unseen_pool():
    assert split_warning(split(1, 299), REFEREE) == (
        "iteration 1's split is 1 hard of 300 judged, so the hard side's half of the generator's budget "
        "(loop.hard_share 0.5) goes to 1 parent: lower loop.tau, or judge instructions the student has not trained on "
        "(loop.judged: held_back).")


def test_almost_all_easy_on_instructions_the_student_has_not_seen_asks_only_for_a_lower_tau():
    assert split_warning(split(3, 97, k=2), REFEREE_HELD_BACK.model_copy(update={"hard_share": 0.3})) == (
        "iteration 2's split is 3 hard of 100 judged, so the hard side's 30% of the generator's budget "
        "(loop.hard_share 0.3) goes to 3 parents: lower loop.tau.")


@pytest.mark.parametrize("loop", [REFEREE, REFEREE_HELD_BACK])
def test_almost_all_hard_asks_for_a_higher_tau(loop):
    assert split_warning(split(298, 2), loop) == (
        "iteration 1's split is 298 hard of 300 judged, so it says little about where the student is weak and the hard "
        "side is drawn almost like random growth: raise loop.tau.")


@pytest.mark.parametrize(("hard", "easy", "effect"), [
    (1, 99, "so the hard side's half of the generator's budget (loop.hard_share 0.5) goes to 1 parent"),
    (99, 1, "so it says little about where the student is weak and the hard side is drawn almost like random growth"),
])
def test_the_student_loss_signal_asks_for_a_share_nearer_a_half_either_way(hard, easy, effect):
    assert split_warning(split(hard, easy), LOSS) == (
        f"iteration 1's split is {hard} hard of 100 judged, {effect}: set loop.loss_hard_share nearer 0.5.")


def test_an_empty_side_is_the_most_degenerate_split():
    assert split_warning(split(0, 40), REFEREE) == (
        "iteration 1's split is 0 hard of 40 judged, so it says nothing about where the student is weak and every new "
        "instruction is written from an easy one: lower loop.tau, or judge instructions the student has not trained on "
        "(loop.judged: held_back).")
    assert split_warning(split(40, 0), LOSS) == (
        "iteration 1's split is 40 hard of 40 judged, so it says nothing about where the student is weak and every new "
        "instruction is written from a hard one, as in random growth: set loop.loss_hard_share nearer 0.5.")


@pytest.mark.parametrize("record", [
    split(15, 285),  # exactly 5% hard: the smaller side is not under the share
    split(150, 150),
    split(285, 15),
    split(1, 1),
    split(1, 0),  # one judged instruction cannot be split
    IterationRecord(iteration=3, closing=True),  # nothing judged
    IterationRecord(iteration=1),  # discrimination not run yet
])
def test_a_split_that_says_something_or_none_made_gets_no_sentence(record):
    assert DEGENERATE_SIDE == 0.05
    assert split_warning(record, REFEREE) is None and split_warning(record, LOSS) is None


def test_one_sentence_each():
    for record in (split(1, 299), split(299, 1), split(0, 40)):
        for loop in (REFEREE, REFEREE_HELD_BACK, LOSS):
            text = split_warning(record, loop)
            assert text.endswith(".") and ". " not in text and "\n" not in text


def test_the_mean_ifd_has_a_column_in_status_and_the_report_and_reads_blank_when_unknown():
    for keys in (STATUS["judgements and scores"], REPORT):
        assert "mean IFD" in headers(keys)
        assert cells(IterationRecord(iteration=1, mean_ifd=0.8125), keys)[keys.index("mean_ifd")] == "0.81"
        assert cells(IterationRecord(iteration=1), keys)[keys.index("mean_ifd")] == ""


def test_an_old_summary_without_mean_ifd_still_loads():
    old = IterationRecord(iteration=1, hard=3, easy=5, mean_d=0.5).model_dump(mode="json")
    del old["mean_ifd"]
    assert IterationRecord.model_validate(old).mean_ifd is None


class _Ctx:
    def __init__(self, loop: LoopConfig):
        self.cfg = type("Cfg", (), {"loop": loop})()
        self.said: list[str] = []

    def say(self, message: str) -> None:
        self.said.append(message)

    def student_dir(self, k: int) -> str:
        return f"student-{k}"


@pytest.mark.parametrize(("hard", "warned"), [(1, True), (50, False)])
def test_the_loop_says_it_in_yellow_right_after_the_discrimination(monkeypatch, hard, warned):
    def discrimination(ctx, k, items, student, what):
        return DiscriminationResult(judged=100, hard=hard, easy=100 - hard, failed=0, mean_d=None, mean_ifd=1.0)

    monkeypatch.setattr(runner, "run_discrimination", discrimination)
    work = runner._Iteration.__new__(runner._Iteration)
    work.ctx, work.k, work.train, work.cache_pool = _Ctx(LOSS), 2, [], []
    monkeypatch.setattr(runner, "held_back", lambda ctx, k: [])
    work.discrimination(None)
    assert work.ctx.said == ([f"[yellow]{split_warning(split(hard, 100 - hard, k=2), LOSS)}[/yellow]"] if warned else [])


def test_drop_reasons_read_with_their_counts_after_them():
    from lion.loop.describe import dropped_text

    text = dropped_text({"3 words or fewer": 4, "too similar to a pool instruction": 2588})
    assert text == "too similar to a pool instruction: 2,588; 3 words or fewer: 4"


def test_scores_side_by_side_have_the_same_decimals():
    """Scores are stored with two decimals; each view shows one, so 6.5 does not sit beside 32.61."""
    from lion.loop.describe import RUN_END, heldout_text, interval_text, iteration_line
    from lion.loop.stages.heldout import HeldoutResult

    scores = HeldoutResult(exact_match=6.5, relative_score=32.61, relative_interval=[29.62, 35.5], questions=200)
    assert heldout_text(scores) == "exact match 6.5%, relative score 32.6% [29.6, 35.5]"
    assert interval_text(scores) == "29.6–35.5"
    assert heldout_text(HeldoutResult(exact_match=10.0, relative_score=36.0)) == "exact match 10.0%, relative score 36.0%"
    record = IterationRecord(iteration=1, hard=161, easy=39, heldout=scores)
    assert "\n  held-out: exact match 6.5%, relative score 32.6% [29.6, 35.5]\n" in iteration_line(record)
    assert cells(record, RUN_END)[-2:] == ["6.5", "32.6"]
    shown = dict(zip(REPORT, cells(record, REPORT)))
    assert (shown["hard_share"], shown["relative_score"]) == ("80.5", "32.6")
    assert dict(zip(STATUS["judgements and scores"], cells(record, STATUS["judgements and scores"])))["relative_score"] == "32.6"
