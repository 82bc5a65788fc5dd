"""Reading JSON arrays and JSONL files of records: seeds, questions, answers, guard files.

Every refusal is one sentence naming the file, the line and the field, because such files are
usually hand-made or converted and the user needs to find the bad record, not read a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lion.core.errors import LionError

MAX_CHARS = 20_000  # longer than any sensible instruction; beyond it a file is probably corrupt


def _json_array(text: str, path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line, element) of a top-level JSON array, so errors can name the record's line."""
    dec = json.JSONDecoder()
    i = text.index("[") + 1
    n = len(text)

    def skip(j: int) -> int:
        while j < n and text[j] in " \t\r\n":
            j += 1
        return j

    i = skip(i)
    if i < n and text[i] == "]":
        return
    while True:
        line = text.count("\n", 0, i) + 1
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise LionError(f"{path}, line {e.lineno}: invalid JSON ({e.msg}).") from None
        yield line, obj
        i = skip(i)
        if i < n and text[i] == ",":
            i = skip(i + 1)
            continue
        if i < n and text[i] == "]":
            if skip(i + 1) != n:
                line = text.count("\n", 0, i) + 1
                raise LionError(f"{path}, line {line}: unexpected text after the JSON array.")
            return
        line = text.count("\n", 0, min(i, n)) + 1
        raise LionError(f"{path}, line {line}: invalid JSON (expected ',' or ']' between records).")


def _jsonl(text: str, path: Path) -> Iterator[tuple[int, Any]]:
    # only "\n" ends a record: str.splitlines would also split at U+0085, U+2028 and others,
    # which JSON allows unescaped inside strings
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            raise LionError(f"{path}, line {lineno}: invalid JSON ({e.msg}).") from None


def read_records(path: Path, what: str = "file") -> Iterator[tuple[int, Any]]:
    """(line, record) of a JSON array or JSONL file; `what` names the file in refusals."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LionError(f"{path}: {what} not found.") from None
    except IsADirectoryError:
        raise LionError(f"{path}: is a folder, not a {what}.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise LionError(f"{path}, line {line}: the file is not UTF-8 text.") from None
    if not text.strip():
        raise LionError(f"{path}: the file is empty.")
    if text.lstrip().startswith("["):
        return _json_array(text, path)
    return _jsonl(text, path)


def record_text(rec: Any, name: str, where: str) -> str:
    """A record's text field; question files (Vicuna, MT-bench) hold theirs as `turns`, whose
    first turn is the question."""
    if not isinstance(rec, dict):
        raise LionError(f"{where}: expected a JSON object, got {type(rec).__name__}.")
    turns = rec.get("turns")
    if name not in rec and isinstance(turns, list) and turns and isinstance(turns[0], str):
        return turns[0]
    return text_field(rec, name, where, required=True)


def read_texts(path: Path, name: str, what: str = "file") -> list[tuple[int, str]]:
    """(line, text) of every record of an instruction or question file."""
    return [(line, record_text(rec, name, f"{path}, line {line}")) for line, rec in read_records(Path(path), what)]


def text_field(rec: dict, name: str, where: str, required: bool) -> str:
    value = rec.get(name)
    if value is None:
        if required:
            raise LionError(f"{where}: the record has no '{name}' field.")
        return ""
    if not isinstance(value, str):
        raise LionError(f"{where}, field '{name}': expected text, got {type(value).__name__}.")
    if len(value) > MAX_CHARS:
        raise LionError(f"{where}, field '{name}': {len(value)} characters is over the {MAX_CHARS} limit.")
    return value
