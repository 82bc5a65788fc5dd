"""The small world the student tests train on: a few capitals, a chat template, tiny settings."""

from lion.core.config import GenerateConfig, StudentConfig, TinyStudentConfig, TrainConfig

TINY = TinyStudentConfig(hidden_size=64, layers=1, heads=4, max_positions=64)

CAPITALS = [
    ("Peru", "Lima"),
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Kenya", "Nairobi"),
    ("Egypt", "Cairo"),
]
# the words our own chat template (`CHAT_TEMPLATE`) needs in the vocabulary, each starting a text
CHAT_WORDS = ["user", "assistant"]

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}:\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant:\n{% endif %}"
)


def capital_examples() -> list[tuple[str, str, str]]:
    examples = [(f"What is the capital of {c}?", "", f"It is {k}.") for c, k in CAPITALS]
    examples.append(("Name the capital of this country.", "Peru", "Lima."))
    return examples


def texts(examples: list[tuple[str, str, str]]) -> list[str]:
    return [t for ex in examples for t in ex] + CHAT_WORDS


def student_config(**train: object) -> StudentConfig:
    """Enough small-batch steps for the tiny model to get past guessing one capital for all."""
    settings = {
        "epochs": 100,
        "learning_rate": 2e-3,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "batch_size": 2,
        "max_length": 64,
        "save_steps": 100,
    }
    settings.update(train)
    return StudentConfig(
        train=TrainConfig(**settings), generate=GenerateConfig(max_new_tokens=8, batch_size=4)
    )
