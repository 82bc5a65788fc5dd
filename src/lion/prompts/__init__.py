"""Prompt templates, kept as text files so they can be read and changed without touching code."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def template(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")


def input_block(input: str) -> str:
    """The optional context of an instruction (Alpaca's `input`), or nothing when it is empty."""
    return template("input_block").rstrip("\n").format(input=input) if input.strip() else ""


def render(name: str, **fields: str) -> str:
    """Fill a template; `{input_block}` is derived from `input` so no template repeats that logic."""
    if "input" in fields:
        fields["input_block"] = input_block(fields.pop("input"))
    return template(name).rstrip("\n").format(**fields)
