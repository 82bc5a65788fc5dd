"""`lion export-data`: a finished small arena run written as a dataset, read back with `datasets`."""

from __future__ import annotations

import json
import shutil

import pytest

from lion.core.config import load_config
from lion.core.errors import LionError
from lion.core.records import Instruction, Response, SplitRecord, read_jsonl
from lion.loop.run_folder import RunFolder
from lion.observe import export_data as exporter
from run_cli import lion


def load(out, config):
    from datasets import load_dataset

    return load_dataset(str(out), config, split="train", cache_dir=str(out.parent / "hf-cache"))  # this test's own


def test_the_sft_data_is_every_trained_answer_with_its_lineage_and_verdict(small_run, tmp_path):
    out = tmp_path / "data"
    rows = exporter.export_data(small_run, out, "alpaca")
    run = RunFolder(small_run)
    # the closing imitation (iteration 3) trained on the last generation's instructions: they are exported too
    pools = [{i.id: i for i in read_jsonl(run.pools(j).train, Instruction)} for j in (0, 1, 2)]
    answers = {r.id: r for j in (1, 2, 3) for r in read_jsonl(run.iteration(j).imitation.teacher_answers, Response)
               if r.text.strip() and r.finish_reason == "stop"}.values()
    assert any(a.id in pools[2] for a in answers)
    sft = load(out, "sft")
    assert rows["sft"] == len(sft) == len(answers)
    assert {"instruction", "input", "output", "origin", "parent", "iteration", "kind", "judged_in", "d", "hard"} <= set(sft.column_names)
    by_id = {r["id"]: r for r in sft}
    for j, answer in ((next(j for j in (1, 2, 3) if answer.id in pools[j - 1]), answer) for answer in answers):
        row, source = by_id[answer.id], pools[j - 1][answer.id]
        assert (row["instruction"], row["input"], row["output"]) == (source.instruction, source.input, answer.text)
        assert (row["origin"], row["parent"], row["iteration"], row["kind"]) == (source.origin, source.parent,
                                                                                source.iteration, source.kind)
    latest = {r.id: (j, r) for j in (1, 2) for r in read_jsonl(run.iteration(j).discrimination.split, SplitRecord)}
    judged = [r for r in sft if r["judged_in"] is not None]
    assert judged and all(latest[r["id"]][0] == r["judged_in"] and latest[r["id"]][1].d == r["d"] for r in judged)
    origins = {r["origin"] for r in sft}
    assert "seed" in origins and origins - {"seed"} and origins <= {"seed", "from-hard", "from-easy"}


def test_preference_pairs_are_the_judged_pairs_the_teacher_won_and_train_a_dpo_step(small_run, tmp_path):
    out = tmp_path / "data"
    exporter.export_data(small_run, out, "alpaca", preference=True)
    run = RunFolder(small_run)
    won = {(j, r.id) for j in (1, 2) for r in read_jsonl(run.iteration(j).discrimination.split, SplitRecord) if r.d > 0}
    pairs = load(out, "preference")
    assert {(p["iteration"], p["id"]) for p in pairs} == won
    student = {r.id: r.text for r in read_jsonl(run.iteration(1).discrimination.student_answers, Response)}
    teacher = {r.id: r.text for r in read_jsonl(run.iteration(1).discrimination.teacher_answers, Response)}
    first = next(p for p in pairs if p["iteration"] == 1)
    assert (first["chosen"], first["rejected"]) == (teacher[first["id"]], student[first["id"]])
    assert first["d"] > 0 and set(first["teacher_first"]) == {"teacher", "student"}

    # one DPO step with TRL on the pairs, from the run's own tiny student
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    model_dir = run.root / "iter-02" / "student"
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = DPOConfig(output_dir=str(tmp_path / "dpo"), max_steps=1, per_device_train_batch_size=2, report_to=[],
                     use_cpu=True, logging_steps=1, save_strategy="no", max_length=96)
    trainer = DPOTrainer(model=model, args=args, train_dataset=pairs.select_columns(["prompt", "chosen", "rejected"]),
                         processing_class=tokenizer)
    trainer.train()
    assert any(not p.detach().equal(before[n]) for n, p in model.named_parameters())
    assert trainer.state.log_history[0]["loss"] > 0


def test_the_card_says_how_the_data_was_made(small_run, tmp_path):
    out = tmp_path / "data"
    exporter.export_data(small_run, out, "messages", iteration=1, preference=True)
    text = (out / "README.md").read_text()
    cfg = load_config(small_run / "config.yaml")
    for needed in ("config_name: sft", "config_name: preference", "| teacher | arena | arena-teacher | 0.7 |",
                   f"τ = {cfg.loop.tau}", f"ROUGE-L above {cfg.loop.rouge_threshold}", "iterations: 1 exported of 3 planned",
                   "| referee |", "lion-distill", "held-out relative score",
                   "each pair judged in both orders" if cfg.loop.both_orders else "each pair judged in one order"):
        assert needed in text, needed
    assert str(small_run.parent) not in text and "orders: True" not in text  # no path of this machine; words, not flags
    sft = load(out, "sft")
    assert set(sft["iteration"]) == {0}  # iteration 1's Train Pool: the seeds
    assert sft[0]["messages"][0]["role"] == "user" and sft[0]["messages"][1]["role"] == "assistant"
    assert isinstance(load(out, "preference")[0]["prompt"], list)  # conversational, as DPOTrainer reads it


@pytest.fixture(scope="module")
def held_back_run(tmp_path_factory):
    """A finished small arena run that judges a held-back slice: one iteration, then the closing imitation."""
    from pathlib import Path

    from lion.loop.runner import run_loop
    from small_run import SMALL

    out = tmp_path_factory.mktemp("held-back") / "run"
    config = Path(__file__).parents[2] / "configs" / "arena.yaml"
    run_loop(load_config(config, [*SMALL, "loop.iterations=1", "loop.judged=held_back"]), out, lambda m: None)
    return out


def test_the_card_calls_trained_on_only_what_a_student_trained_on(held_back_run, small_run, tmp_path):
    sliced = {it.id for it in read_jsonl(RunFolder(held_back_run).iteration(1).imitation.held_back, Instruction)}
    exporter.export_data(held_back_run, tmp_path / "one", iteration=1)
    late = len(sliced & set(load(tmp_path / "one", "sft")["id"]))
    assert late > 0
    text = (tmp_path / "one" / "README.md").read_text()
    # iteration 1's slice is in the data, but no student has trained on it yet: the card says which and when
    assert "whose teacher answers imitation keeps for training (messages format)" in text
    assert "generation), iteration 1. `sft`: the" in text and "of the Train Pool of iteration 1 whose" in text
    assert (f"The student of iteration 1 was trained on all of them but {late}: iteration 1's held-back slice, kept "
            "out of its training to be judged, which joins training in the closing imitation.") in text
    assert "were trained on (" not in text
    assert ("0.25 of each Train Pool, kept out of that iteration's training; it joins training in the next iteration, "
            "the last slice in the closing imitation") in text
    # after the closing imitation every row was trained on, and the card says just that
    exporter.export_data(held_back_run, tmp_path / "all")
    text = (tmp_path / "all" / "README.md").read_text()
    assert "whose teacher answers were trained on (messages format)" in text and "all of them but" not in text
    # judging the Cache Pool holds nothing back, whichever iteration is exported
    exporter.export_data(small_run, tmp_path / "cache", iteration=1)
    text = (tmp_path / "cache" / "README.md").read_text()
    assert "whose teacher answers were trained on (messages format)" in text
    assert "all of them but" not in text and "held-back" not in text


def test_bad_input_is_one_sentence_and_writes_nothing(small_run, tmp_path):
    with pytest.raises(LionError, match=r"iteration 5 has not finished \(finished: 1, 2, 3\)"):
        exporter.export_data(small_run, tmp_path / "a", iteration=5)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(LionError, match=r"busy exists and is not empty"):
        exporter.export_data(small_run, busy)
    no_referee = tmp_path / "one-way"
    shutil.copytree(small_run, no_referee, ignore=shutil.ignore_patterns("student*", "iter-*"))
    config = no_referee / "config.yaml"
    config.write_text(config.read_text().replace("parents: referee", "parents: random"))
    with pytest.raises(LionError, match=r"--preference needs the referee's verdicts, and this run has no referee"):
        exporter.export_data(no_referee, tmp_path / "b", preference=True)
    r = lion("export-data", str(small_run), "--out", str(tmp_path / "c"), "--push-to-hub", "me/data",
             cwd=tmp_path, env={"HF_TOKEN": ""})
    assert r.returncode == 2 and "needs a Hugging Face token in the environment variable HF_TOKEN" in r.stdout + r.stderr
    assert not any((tmp_path / name).exists() for name in ("a", "b", "c"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_push_to_hub_uploads_the_folder_as_a_dataset_with_the_token_from_the_environment(small_run, tmp_path, monkeypatch):
    """The Hub cannot be reached from here: everything up to the upload call is checked."""
    from huggingface_hub import HfApi

    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo, **kw: calls.append(("create", self.token, repo, kw)))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kw: calls.append(("upload", self.token, kw)))
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token")
    out = tmp_path / "data"
    exporter.export_data(small_run, out)
    assert exporter.push_to_hub(out, "me/lion-data", private=True) == "https://huggingface.co/datasets/me/lion-data"
    assert calls[0] == ("create", "hf_secret_token", "me/lion-data", {"repo_type": "dataset", "private": True, "exist_ok": True})
    assert calls[1][0] == "upload" and calls[1][2]["folder_path"] == str(out) and calls[1][2]["repo_type"] == "dataset"
    assert "hf_secret_token" not in json.dumps([p.read_text() for p in [out / "README.md"]])


def test_an_sft_row_carries_the_ifd_of_a_student_loss_verdict_and_no_d():
    it = Instruction.make("Name a colour.")
    answer = Response(id=it.id, instruction=it.instruction, text="Blue.")
    verdict = SplitRecord(id=it.id, hard=True, loss=1.5, loss_alone=2.0, ifd=0.75)
    row = exporter._sft_row(it, answer, (2, verdict), "alpaca")
    assert (row["judged_in"], row["hard"], row["ifd"], row["d"], row["teacher_score"]) == (2, True, 0.75, None, None)
    assert exporter._sft_row(it, answer, None, "alpaca")["ifd"] is None
