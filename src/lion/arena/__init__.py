"""The arena: an offline world that plays teacher, referee, judge and generator.

It answers through the same ChatModel interface and reads the same prompt texts as a real
LLM would, so the whole Lion loop runs and can be tested on a laptop with no API at hand.
"""

from lion.arena.chat import ArenaChatModel
from lion.arena.families import spelled_words
from lion.arena.world import (
    Task,
    answer_phrasings,
    corpus,
    grade,
    heldout_set,
    parse,
    seed_set,
    write_task,
)

__all__ = [
    "ArenaChatModel",
    "Task",
    "answer_phrasings",
    "corpus",
    "grade",
    "heldout_set",
    "parse",
    "seed_set",
    "spelled_words",
    "write_task",
]
