"""Prompt templates, kept as text files so they can be read and changed without touching code.

A template frames the text it carries with bracketed marker lines ("[Assistant 1]" ...
"[End of Assistant 1]"). Instructions and answers come from data files, a generator and two
models, so any of them may hold such a marker, by accident or to fool the model that reads the
prompt into taking part of an answer for the frame (ending an answer early, starting a fake
one). `render` therefore defuses every occurrence of its template's markers in the text it
fills in: the brackets become parentheses, so the reader sees the words but not a frame line.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources


@cache
def template(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")


def input_block(input: str) -> str:
    """The optional context of an instruction (Alpaca's `input`), or nothing when it is empty."""
    return template("input_block").rstrip("\n").format(input=input) if input.strip() else ""


@cache
def _markers(name: str) -> re.Pattern[str] | None:
    """The template's frame markers, matched in any case and spacing, or None when it has none."""
    words = {tuple(m.lower().split()) for m in re.findall(r"\[([^\[\]{}\n]+)\]", template(name)) if m.strip()}
    if not words:
        return None
    alternatives = sorted((r"\s*".join(map(re.escape, w)) for w in words), key=len, reverse=True)
    return re.compile(r"\[\s*(" + "|".join(alternatives) + r")\s*\]", re.IGNORECASE)


def defuse(name: str, text: str) -> str:
    """`text` with the frame markers of template `name` turned from [brackets] to (parentheses)."""
    markers = _markers(name)
    return markers.sub(r"(\1)", text) if markers else text


def render(name: str, **fields: str) -> str:
    """Fill a template; `{input_block}` is derived from `input` so no template repeats that logic.

    Every field is defused first (see the module docstring), so no filled-in text can close or
    open a section of the frame.
    """
    fields = {key: defuse(name, value) for key, value in fields.items()}
    if "input" in fields:
        fields["input_block"] = input_block(fields.pop("input"))
    return template(name).rstrip("\n").format(**fields)
