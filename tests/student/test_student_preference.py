"""The DPO step's data: the pairs reach TRL in the prompt shape the student was imitated and is asked in."""

import pytest
from tiny_world import student_config

from lion.core.errors import LionError
from lion.student.format import adds_special_tokens, build_prompt
from lion.student.preference import make_dpo_trainer

PAIRS = [("What is the capital of Peru?", "", "It is Lima.", "It is Paris."),
         ("Name the capital of this country.", "Japan", "It is Tokyo.", "")]


@pytest.mark.parametrize("base", ["base_student", "chat_base"])
def test_each_pair_is_the_generation_prompt_then_each_answer_closed_by_the_end_token(request, tmp_path, base):
    trainer = make_dpo_trainer(request.getfixturevalue(base), PAIRS, tmp_path / "ck", student_config())
    tokenizer = trainer.processing_class
    fmt = "chat_template" if tokenizer.chat_template else "alpaca"
    for (instruction, input, chosen, rejected), row in zip(PAIRS, trainer.train_dataset):
        prompt = build_prompt(tokenizer, fmt, instruction, input)
        assert row["prompt_ids"] == tokenizer(prompt, add_special_tokens=adds_special_tokens(fmt)).input_ids
        for ids, answer in ((row["chosen_ids"], chosen), (row["rejected_ids"], rejected)):
            assert tokenizer.eos_token_id in ids  # a DPO'd student still learns to stop
            words = tokenizer.decode(tokenizer(answer, add_special_tokens=False).input_ids, skip_special_tokens=True)
            assert tokenizer.decode(ids, skip_special_tokens=True).strip() == words.strip()


def test_no_pairs_is_one_sentence(base_student, tmp_path):
    with pytest.raises(LionError, match="^The DPO step has no pairs"):
        make_dpo_trainer(base_student, [], tmp_path / "ck", student_config())
