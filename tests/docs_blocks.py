"""The fenced blocks of the README and docs/, and how `tests/test_docs.py` treats each.

A block is run as written unless the line above it says otherwise, in the page itself:

    <!-- docs-test: parse only, because REASON -->   its `lion` commands go through the real
                                                      argument parser; files it names must exist
    <!-- docs-test: needs ../shared/data -->          run, or skipped where ../shared is absent
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import typer
import typer.core
import typer.main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"bash", "yaml", "python", "text"}
_MARK = re.compile(r"^<!-- docs-test: (.+?) -->$")
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    mark: str  # the docs-test note above it, or ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def parse_only(self) -> bool:
        return self.mark.startswith("parse only")

    @property
    def needs_shared(self) -> bool:
        return self.mark.startswith("needs ../shared")


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").split("\n")
    found, i = [], 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening:
            end = next(j for j in range(i + 1, len(lines)) if _FENCE.match(lines[j]) and not _FENCE.match(lines[j]).group(2))
            above = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            mark = _MARK.match(above)
            found.append(Block(page, i + 1, opening.group(2), "\n".join(lines[i + 1:end]), mark.group(1) if mark else ""))
            i = end
        i += 1
    return found


ALL = [b for page in PAGES for b in blocks(page)]


def commands(script: str) -> list[list[str]]:
    """The simple commands of a shell block: continuation lines joined, comments dropped, split at
    `&&`, `||`, `;`, `|` and `&`; a command's environment assignments left out."""
    joined = script.replace("\\\n", " ")
    out = []
    for line in joined.split("\n"):
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in [*words, ";"]:
            if word in ("&&", "||", ";", "|", "&"):
                if command:
                    out.append(command)
                command = []
            elif word.endswith(("&", ";")) and len(word) > 1:
                command.append(word[:-1])
            elif command or "=" not in word or word.startswith("-"):
                command.append(word)
    return out


def parse_lion(args: list[str]) -> str:
    """The command that `lion ARGS` names, after the real parser has read every argument (a wrong
    flag, a missing argument or a bad value raises typer's usage error); nothing is run."""
    from lion.cli import app

    command = typer.main.get_command(app)
    ctx = command.make_context("lion", list(args))
    while isinstance(command, typer.core.TyperGroup):
        name, command, rest = command.resolve_command(ctx, ctx._protected_args + ctx.args)
        ctx = command.make_context(name, rest, parent=ctx)
    return command.name
