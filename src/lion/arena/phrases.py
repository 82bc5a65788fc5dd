"""Everything the arena says besides facts: fallbacks, review sentences, generator slips.

Kept in one place so that `world.corpus()` can hand the student's tokenizer every word the
arena may ever write, and so that the wording can be varied without touching any logic.
"""

from __future__ import annotations

# The teacher's reply to a request it does not recognise: polite, short and well formed.
TEACHER_FALLBACKS: tuple[str, ...] = (
    "I'm not sure about that one, sorry.",
    "Sorry, I don't know the answer to that.",
    "I can't answer that with confidence.",
)

# Review sentences, one list per verdict band; `{i}` is the assistant's number.
REVIEW: dict[str, tuple[str, ...]] = {
    "right": (
        "Assistant {i} gives the correct answer clearly and concisely.",
        "Assistant {i} answers accurately and to the point.",
        "Assistant {i} is correct and appropriately brief.",
    ),
    "cluttered": (
        "Assistant {i} contains the right answer but buries it in extra or repeated words.",
        "Assistant {i} gets to the correct answer, though the reply is cluttered.",
        "Assistant {i} is essentially right but poorly worded.",
    ),
    "wrong": (
        "Assistant {i} gives a plausible answer, but it is factually wrong.",
        "Assistant {i} answers confidently yet incorrectly.",
        "Assistant {i} names the wrong item.",
    ),
    "off": (
        "Assistant {i} does not address the question that was asked.",
        "Assistant {i} goes off topic.",
        "Assistant {i} is fluent but irrelevant to the request.",
    ),
    "junk": (
        "Assistant {i} is empty or incoherent.",
        "Assistant {i} offers nothing usable.",
        "Assistant {i} is mostly noise.",
    ),
    "plain": (
        "Assistant {i} gives a polite, well-formed reply.",
        "Assistant {i} responds sensibly, though there is little to verify.",
    ),
    "terse": (
        "Assistant {i} is terse and not quite a full sentence.",
        "Assistant {i} replies too curtly to be very helpful.",
    ),
}

REVIEW_OPENERS: tuple[str, ...] = (
    "I compared both answers with the request.",
    "Here is my assessment of the two replies.",
    "Both assistants attempted the request.",
)

REVIEW_PREFERENCE: tuple[str, ...] = (
    "Overall, Assistant {w} gives the better response.",
    "On balance I prefer Assistant {w}.",
)

REVIEW_TIE: tuple[str, ...] = (
    "Overall, the two answers are of similar quality.",
    "Neither answer clearly beats the other.",
)

# What a reviewer says before quoting the score lines it found planted in an answer.
PLANTED_SCORES: tuple[str, ...] = (
    "Assistant {i} also tries to set the scores itself, which I ignore:",
    "Note that Assistant {i} ends with text meant to dictate the rating:",
    "Assistant {i} includes these lines, which have no bearing on my scores:",
)

# What a reviewer says when the prompt holds no two answers, or when it declines to score.
NO_COMPARISON: tuple[str, ...] = (
    "I could not find two answers to compare in your message.",
    "Please share both answers so that I can compare them.",
)

REFUSALS: tuple[str, ...] = (
    "I'm sorry, but I can't give reliable scores for these answers.",
    "I would rather not rate these answers without more context.",
)

# Generator slips, each of a kind the method's output filters are meant to catch.
INSTRUCTION_LEADS: tuple[str, ...] = (
    "New instruction:",
    "Here is a new instruction:",
    "Instruction:",
)
PUNCTUATION_MARKS: tuple[str, ...] = ("- ", "* ", '"', "(")
NON_ASCII_MARKS: tuple[str, ...] = ("\u2022 ", "\u2192 ", "\u201c")
NEAR_COPY_TAILS: tuple[str, ...] = (" Thanks.", " Please.", " Quickly.")
RAMBLE_OPENING = (
    "Sure! Here is a new task you could add to the collection, with some thoughts first."
)
RAMBLE: tuple[str, ...] = (
    "A good task should be clear and natural.",
    "It also helps when the topic is something people really care about.",
    "Let me think about which topic would fit best here.",
    "There are many possibilities, so I will consider a few of them.",
    "Some topics are common, while others are rarely asked about.",
)


def all_texts() -> list[str]:
    """Every fixed sentence in this module, for the student tokenizer's corpus."""
    fixed = [
        *TEACHER_FALLBACKS,
        *REVIEW_OPENERS,
        *REVIEW_TIE,
        *NO_COMPARISON,
        *REFUSALS,
        *INSTRUCTION_LEADS,
        *NEAR_COPY_TAILS,
        *RAMBLE,
        RAMBLE_OPENING,
    ]
    numbered = [*(t for group in REVIEW.values() for t in group), *REVIEW_PREFERENCE]
    return fixed + [t.format(i=n, w=n) for t in numbered for n in (1, 2)]
