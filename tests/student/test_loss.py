import math
import time

import pytest
import torch
from peft import LoraConfig, get_peft_model
from tiny_world import CHAT_TEMPLATE, student_config
from transformers import AutoModelForCausalLM, AutoTokenizer

from lion.student.loss import AnswerLoss, answer_losses
from lion.student.model import peft_quiet
from lion.student.train import make_trainer


def losses(folder, triples, batch_size=8):
    return answer_losses(folder, triples, "auto", batch_size, threads=1, label="scoring")


def flat(scores):
    return [x for s in scores for x in (s.given, s.alone)]


@pytest.fixture(scope="module")
def chat_trained(tmp_path_factory, trained_student):
    """The trained student behind a chat template: its logits are far from uniform, so a mask
    one token off would show in the loss."""
    out = tmp_path_factory.mktemp("chat-trained") / "student"
    tokenizer = AutoTokenizer.from_pretrained(trained_student[0])
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    AutoModelForCausalLM.from_pretrained(trained_student[0]).save_pretrained(out)
    return out


@pytest.fixture(params=["alpaca", "chat_template"])
def student(request, trained_student, chat_trained):
    return trained_student[0] if request.param == "alpaca" else chat_trained


def test_an_answer_scores_the_same_alone_in_a_batch_and_padded_among_others(student, examples):
    triples = [*examples, ("Name the capital of this country, then say it again twice.", "Kenya", "Nairobi. Nairobi. Nairobi.")]
    one_by_one = [losses(student, [t])[0] for t in triples]
    batched = losses(student, triples, batch_size=3)
    assert len({len(t[0]) + len(t[1]) + len(t[2]) for t in triples}) > 2  # the batches really pad
    for single, padded in zip(one_by_one, batched):
        assert padded.given == pytest.approx(single.given, abs=1e-4)
        assert padded.alone == pytest.approx(single.alone, abs=1e-4)
    assert flat(losses(student, triples[::-1], batch_size=3)) == pytest.approx(flat(batched[::-1]), abs=1e-4)  # input order


def test_the_loss_given_the_prompt_is_the_training_loss(tmp_path, student, examples):
    trainer = make_trainer(student, examples, tmp_path / "ck", student_config())
    model = trainer.model.eval()
    ours = losses(student, examples)
    for row, scored in zip(trainer.train_dataset, ours):
        ids, labels = torch.tensor([row["input_ids"]]), torch.tensor([row["labels"]])
        with torch.inference_mode():
            assert scored.given == pytest.approx(model(input_ids=ids, labels=labels).loss.item(), abs=1e-5)
            first = int((labels[0] != -100).nonzero()[0])
            shifted = labels.clone()
            shifted[0, first - 1] = ids[0, first - 1]  # one more prompt token in the loss: a loss clearly apart
            assert abs(model(input_ids=ids, labels=shifted).loss.item() - scored.given) > 1e-3


def test_the_loss_alone_is_the_answer_as_a_text_of_its_own(trained_student):
    folder = trained_student[0]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("It is Lima." + tokenizer.eos_token, return_tensors="pt").input_ids
    assert ids[0, 0] == tokenizer.bos_token_id
    with torch.inference_mode():
        expected = AutoModelForCausalLM.from_pretrained(folder)(input_ids=ids, labels=ids).loss.item()
    assert losses(folder, [("What is the capital of Peru?", "", "It is Lima.")])[0].alone == pytest.approx(expected, abs=1e-5)


def test_a_prompt_that_gives_the_answer_away_has_an_ifd_below_one(trained_student, examples):
    # the trained student knows each capital from its question; rotated, the answers contradict it
    rotated = [(ins, inp, examples[(i + 1) % len(examples)][2]) for i, (ins, inp, _) in enumerate(examples)]
    matched, mismatched = losses(trained_student[0], examples), losses(trained_student[0], rotated)
    assert all(m.ifd < 1 for m in matched)
    assert all(m.ifd < w.ifd for m, w in zip(matched, mismatched))
    assert sum(m.ifd for m in matched) / len(matched) < 0.5 < sum(w.ifd for w in mismatched) / len(mismatched)


def test_a_lora_student_scores_as_its_merged_weights(tmp_path, trained_student, examples):
    folder = trained_student[0]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    torch.manual_seed(0)
    with peft_quiet():
        adapted = get_peft_model(AutoModelForCausalLM.from_pretrained(folder), config)
    adapted.save_pretrained(tmp_path / "lora")
    tokenizer.save_pretrained(tmp_path / "lora")
    adapted.merge_and_unload().save_pretrained(tmp_path / "merged")
    tokenizer.save_pretrained(tmp_path / "merged")
    lora, merged, plain = (losses(f, examples) for f in (tmp_path / "lora", tmp_path / "merged", folder))
    assert flat(lora) == pytest.approx(flat(merged), abs=1e-5)
    assert all(math.isfinite(x.given) and math.isfinite(x.alone) for x in lora)
    assert all(abs(a.given - b.given) > 1e-3 for a, b in zip(lora, plain))  # the adapter is really applied


def test_no_answers_load_nothing(tmp_path):
    started = time.monotonic()
    assert answer_losses(tmp_path / "no-such-student", [], "auto", 8, 1, "scoring") == []
    assert time.monotonic() - started < 0.1


def test_ifd_is_the_ratio_with_zero_alone_losses_spelled_out():
    assert AnswerLoss(given=1.0, alone=4.0).ifd == 0.25
    assert AnswerLoss(given=0.5, alone=0.0).ifd == math.inf
    assert AnswerLoss(given=0.0, alone=0.0).ifd == 1.0
