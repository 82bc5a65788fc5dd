import json

import pytest
import torch
from safetensors.torch import load_file
from tiny_world import student_config
from transformers import TrainerCallback

from lion.errors import LionError
from lion.student import train
from lion.student.format import adds_special_tokens, build_prompt
from lion.student.train import make_trainer, resume_point, train_student


def prompt_length(tokenizer, fmt, instruction, input):
    """Tokens in the prompt as generation sees it (a chat prompt's text already holds its BOS)."""
    text = build_prompt(tokenizer, fmt, instruction, input)
    return len(tokenizer(text, add_special_tokens=adds_special_tokens(fmt)).input_ids)


@pytest.mark.parametrize("base", ["base_student", "chat_base"])
def test_only_the_answer_is_in_the_labels(request, tmp_path, examples, base):
    trainer = make_trainer(
        request.getfixturevalue(base), examples, tmp_path / "ck", student_config()
    )
    tokenizer = trainer.processing_class
    fmt = "chat_template" if tokenizer.chat_template else "alpaca"
    for (instruction, input, answer), row in zip(examples, trainer.train_dataset):
        n = prompt_length(tokenizer, fmt, instruction, input)
        ids, labels = row["input_ids"], row["labels"]
        assert labels[:n] == [-100] * n
        assert labels[n:] == ids[n:]
        assert tokenizer.decode(ids[n:], skip_special_tokens=True).strip() == answer
        assert tokenizer.eos_token_id in labels[n:]  # the student learns to stop


def test_the_collator_pads_labels_out_of_the_loss(tmp_path, base_student, examples):
    trainer = make_trainer(base_student, examples, tmp_path / "ck", student_config())
    rows = [trainer.train_dataset[i] for i in (0, len(examples) - 1)]
    batch = trainer.data_collator([{k: r[k] for k in ("input_ids", "labels")} for r in rows])
    short = min(rows, key=lambda r: len(r["input_ids"]))
    padded = batch["labels"][rows.index(short)][len(short["input_ids"]) :]
    assert padded.numel() > 0 and (padded == -100).all()


def test_training_lowers_the_loss_and_saves_a_marked_student(trained_student):
    out, stats = trained_student
    assert stats["steps"] > 0 and stats["runtime_s"] > 0
    assert stats["last_loss"] < stats["first_loss"] / 2
    marker = json.loads((out / "lion_student.json").read_text(encoding="utf-8"))
    assert len(marker["student_uid"]) == 32 and marker["steps"] == stats["steps"]
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    assert not (out.parent / "work" / "checkpoints").exists()
    assert not (out.parent / ".student.partial").exists()


class Kill(TrainerCallback):
    """Stands in for a SIGKILL after `step` optimizer steps."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_a_killed_training_resumes_to_the_same_weights(
    tmp_path, base_student, examples, monkeypatch
):
    cfg = student_config(
        epochs=6, batch_size=2, lr_scheduler="cosine", warmup_ratio=0.1, save_steps=4
    )
    stats = train_student(base_student, examples, tmp_path / "once", tmp_path / "work-once", cfg, 1)
    killed_trainer = train.make_trainer

    def with_kill(*args, **kwargs):
        trainer = killed_trainer(*args, **kwargs)
        trainer.add_callback(Kill(stats["steps"] - 2))  # mid-epoch, after the last checkpoint
        return trainer

    monkeypatch.setattr(train, "make_trainer", with_kill)
    with pytest.raises(KeyboardInterrupt):
        train_student(base_student, examples, tmp_path / "student", tmp_path / "work", cfg, 1)
    assert not (tmp_path / "student").exists()
    assert resume_point(tmp_path / "work" / "checkpoints") is not None
    monkeypatch.undo()

    resumed = train_student(base_student, examples, tmp_path / "student", tmp_path / "work", cfg, 1)
    assert resumed["resumed_at_step"] > 0 and resumed["steps"] == stats["steps"]
    assert (
        resumed["first_loss"] == stats["first_loss"] and resumed["last_loss"] == stats["last_loss"]
    )
    a = load_file(tmp_path / "once" / "model.safetensors")
    b = load_file(tmp_path / "student" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_skips_a_checkpoint_cut_short(tmp_path):
    for step in (5, 10, 15):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    (tmp_path / "checkpoint-15" / "trainer_state.json").write_text(
        '{"global_st'
    )  # killed mid-write
    (tmp_path / "checkpoint-20").mkdir()  # killed before the state was written
    assert resume_point(tmp_path) == tmp_path / "checkpoint-10"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-5"]
    assert resume_point(tmp_path / "missing") is None


def test_no_examples_is_an_error(tmp_path, base_student):
    with pytest.raises(LionError, match="no training examples"):
        train_student(base_student, [], tmp_path / "s", tmp_path / "w", student_config(), 1)
