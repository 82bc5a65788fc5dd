"""A tiny from-scratch student shared by the student tests, built and trained once per session."""

from pathlib import Path

import pytest
from tiny_world import CHAT_TEMPLATE, TINY, capital_examples, student_config, texts
from transformers import AutoModelForCausalLM, AutoTokenizer

from lion.student.tiny import build_tiny_student
from lion.student.train import train_student


@pytest.fixture(scope="session")
def examples() -> list[tuple[str, str, str]]:
    return capital_examples()


@pytest.fixture(scope="session")
def base_student(tmp_path_factory: pytest.TempPathFactory, examples) -> Path:
    out = tmp_path_factory.mktemp("base") / "student"
    build_tiny_student(texts(examples), out, TINY, seed=0)
    return out


@pytest.fixture(scope="session")
def chat_base(tmp_path_factory: pytest.TempPathFactory, base_student: Path) -> Path:
    """The tiny student with a chat template set by hand, standing in for a chat-tuned model."""
    out = tmp_path_factory.mktemp("chat") / "student"
    tokenizer = AutoTokenizer.from_pretrained(base_student)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    AutoModelForCausalLM.from_pretrained(base_student).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def trained_student(
    tmp_path_factory: pytest.TempPathFactory, base_student: Path, examples
) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("trained")
    stats = train_student(
        base_student, examples, root / "student", root / "work", student_config(), threads=1
    )
    return root / "student", stats
