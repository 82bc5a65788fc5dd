import json
import logging
import math
import shutil
from collections.abc import Callable

import pytest
import torch
from safetensors.torch import load_file
from tiny_world import student_config
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from lion.core.errors import LionError
from lion.student import train
from lion.student.export import export_student
from lion.student.format import adds_special_tokens, build_prompt
from lion.student.train import (
    check_train_config,
    make_trainer,
    resume_point,
    sft_config,
    train_student,
)


def prompt_length(tokenizer, fmt, instruction, input):
    """Tokens in the prompt as generation sees it (a chat prompt's text already holds its BOS)."""
    text = build_prompt(tokenizer, fmt, instruction, input)
    return len(tokenizer(text, add_special_tokens=adds_special_tokens(fmt)).input_ids)


@pytest.mark.parametrize("base", ["base_student", "chat_base"])
def test_only_the_answer_is_in_the_labels(request, tmp_path, examples, base):
    # headers inside the texts move nothing: the mask follows our prompt/completion split
    examples = [
        *examples,
        ("What is the capital of Peru?\n\n### Response:\nIt is Paris.", "", "It is Lima.\n\n### Instruction:\nIt is Tokyo."),
    ]
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


def test_the_warmup_ratio_is_a_share_of_all_steps(tmp_path):
    # passed as warmup_steps: a float below 1 is read as a ratio, rounded up to whole steps
    args = sft_config(student_config(warmup_ratio=0.1).train, tmp_path / "ck")
    assert args.get_warmup_steps(200) == 20 and args.get_warmup_steps(15) == 2


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


class Records(logging.Handler):
    """Keeps every record transformers' loggers pass on (they do not reach the root logger)."""

    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_resuming_a_student_with_tied_embeddings_warns_of_no_missing_keys(tmp_path, base_student, examples, monkeypatch):
    """Its checkpoint holds no lm_head.weight, which is the embedding matrix; transformers'
    Trainer warns that the key is missing when it loads one, though the weight is loaded."""
    cfg = student_config(epochs=4, batch_size=2, save_steps=2)
    made = train.make_trainer

    def with_kill(*args, **kwargs):
        trainer = made(*args, **kwargs)
        trainer.add_callback(Kill(5))  # after the checkpoint of step 4
        return trainer

    monkeypatch.setattr(train, "make_trainer", with_kill)
    with pytest.raises(KeyboardInterrupt):
        train_student(base_student, examples, tmp_path / "student", tmp_path / "work", cfg, 1)
    monkeypatch.undo()
    checkpoint = resume_point(tmp_path / "work" / "checkpoints")
    assert "lm_head.weight" not in load_file(checkpoint / "model.safetensors")  # saved once, as the embedding

    shutil.copytree(tmp_path / "work", tmp_path / "plain")

    def warnings_of(resume: Callable[[], object]) -> list[str]:
        records = Records()
        logging.getLogger("transformers").addHandler(records)
        try:
            resume()
        finally:
            logging.getLogger("transformers").removeHandler(records)
        return [m for m in records.messages if "missing keys" in m]

    # the Trainer on its own, from a copy of the checkpoints: the warning this test must not see
    plain = made(base_student, examples, tmp_path / "plain" / "checkpoints", cfg)
    found = warnings_of(lambda: plain.train(resume_from_checkpoint=str(tmp_path / "plain" / "checkpoints" / checkpoint.name)))
    assert found == ["There were missing keys in the checkpoint model loaded: ['lm_head.weight']."]
    stats: dict = {}
    assert warnings_of(lambda: stats.update(train_student(base_student, examples, tmp_path / "student", tmp_path / "work",
                                                          cfg, 1))) == []
    assert stats["resumed_at_step"] == 4
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "student")
    assert model.lm_head.weight is model.model.embed_tokens.weight  # still one tensor
    trained = load_file(tmp_path / "student" / "model.safetensors")["model.embed_tokens.weight"]
    assert torch.equal(model.lm_head.weight.detach(), trained)
    assert not torch.equal(trained, load_file(base_student / "model.safetensors")["model.embed_tokens.weight"])


def test_only_a_missing_tied_weight_is_silenced(base_student):
    model = AutoModelForCausalLM.from_pretrained(base_student)
    quiet = train._TiedKeysFilter(lambda: model)

    def passes(message: str) -> bool:
        return quiet.filter(logging.LogRecord("transformers.trainer", logging.WARNING, "", 0, message, None, None))

    missing = "There were missing keys in the checkpoint model loaded: {}."
    assert not passes(missing.format(["lm_head.weight"]))
    assert passes(missing.format(["model.norm.weight"]))  # a weight of its own: really missing
    assert passes(missing.format(["lm_head.weight", "model.embed_tokens.weight"]))  # both copies: nothing loaded it
    assert passes(missing.format(["no.such.weight"]))
    assert passes("There were unexpected keys in the checkpoint model loaded: ['lm_head.weight'].")
    untied = AutoModelForCausalLM.from_pretrained(base_student, tie_word_embeddings=False)
    assert untied.lm_head.weight is not untied.model.embed_tokens.weight
    assert train._TiedKeysFilter(lambda: untied).filter(
        logging.LogRecord("transformers.trainer", logging.WARNING, "", 0, missing.format(["lm_head.weight"]), None, None))


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


def test_lora_lowers_the_loss_and_saves_an_adapter_that_loads_as_a_plain_model(tmp_path, base_student, examples):
    cfg = student_config(method="lora", epochs=30, learning_rate=1e-2)
    stats = train_student(base_student, examples, tmp_path / "lora", tmp_path / "work", cfg, 1)
    assert stats["last_loss"] < stats["first_loss"] * 0.9
    out = tmp_path / "lora"
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer("What is the capital of Peru?", return_tensors="pt").input_ids
    adapted = AutoModelForCausalLM.from_pretrained(out)  # transformers loads the base and the adapter
    base = AutoModelForCausalLM.from_pretrained(base_student)
    with torch.no_grad():
        assert not torch.allclose(adapted(ids).logits, base(ids).logits)  # the adapter changes the answer

    export_student(out, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert (tmp_path / "merged" / "model.safetensors").is_file()
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-5)


def test_continuing_starts_from_the_previous_students_weights(tmp_path, trained_student, examples):
    folder, _ = trained_student
    saved = load_file(folder / "model.safetensors")
    trainer = make_trainer(folder, examples, tmp_path / "ck", student_config())
    params = dict(trainer.model.named_parameters())
    assert all(torch.equal(params[k], v) for k, v in saved.items() if k in params)
    assert len(set(saved) & set(params)) >= len(params) - 1  # all but a head tied to the embeddings


def test_continuing_a_lora_student_trains_its_adapter(tmp_path, base_student, examples):
    cfg = student_config(method="lora", epochs=2)
    train_student(base_student, examples, tmp_path / "one", tmp_path / "w1", cfg, 1)
    saved = load_file(tmp_path / "one" / "adapter_model.safetensors")
    trainer = make_trainer(tmp_path / "one", examples, tmp_path / "ck", cfg)
    trainable = {k: v for k, v in trainer.model.named_parameters() if v.requires_grad}
    assert trainable and all("lora_" in k for k in trainable)
    lora = {k.replace(".default", ""): v for k, v in trainable.items()}
    assert all(torch.equal(lora[k], v) for k, v in saved.items())


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a GPU")
def test_qlora_without_a_gpu_is_refused_in_one_sentence():
    with pytest.raises(LionError, match="qlora needs a CUDA GPU and the bitsandbytes package"):
        check_train_config(student_config(method="qlora").train, dpo=False)


def test_two_processes_train_one_model_on_cpu(tmp_path, base_student, examples):
    cfg = student_config(processes=2, epochs=4)
    stats = train_student(base_student, examples, tmp_path / "student", tmp_path / "work", cfg, threads=2)
    assert stats["processes"] == 2 and stats["world_size"] == 2 and stats["ranks_identical"]
    ranks = [json.loads((tmp_path / "work" / "ranks" / f"rank-{i}.json").read_text()) for i in (0, 1)]
    assert [r["backend"] for r in ranks] == ["gloo", "gloo"]
    assert stats["steps"] == 4 * math.ceil(len(examples) / 2 / 2)  # a step takes a batch of 2 on each rank
    assert stats["last_loss"] < stats["first_loss"]
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "student") is not None
    assert "accelerate.commands.launch" in (tmp_path / "work" / "launch.log").read_text()


def test_a_failed_launch_is_one_sentence_naming_its_log(tmp_path, examples):
    cfg = student_config(processes=2)
    with pytest.raises(LionError, match=r"Training in 2 processes failed \(exit code \d+\); its log is .*launch\.log"):
        train_student(tmp_path / "no-model", examples, tmp_path / "student", tmp_path / "work", cfg, threads=2)
    assert not (tmp_path / "student").exists()
