"""Loading the seed instructions: Alpaca JSON/JSONL, Self-Instruct, or a Hugging Face dataset.

Every refusal is one sentence naming the file, the line and the field, because a seed file is
usually hand-made or converted and the user needs to find the bad record, not read a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lion.config import DataConfig
from lion.errors import LionError
from lion.records import Instruction

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


def read_records(path: Path, what: str = "seed file") -> Iterator[tuple[int, Any]]:
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
    return _field(rec, name, where, required=True)


def read_texts(path: Path, name: str, what: str = "file") -> list[tuple[int, str]]:
    """(line, text) of every record of an instruction or question file."""
    return [(line, record_text(rec, name, f"{path}, line {line}")) for line, rec in read_records(Path(path), what)]


def _field(rec: dict, name: str, where: str, required: bool) -> str:
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


def _to_instruction(rec: Any, where: str, cfg: DataConfig, fmt: str) -> Instruction:
    if not isinstance(rec, dict):
        raise LionError(f"{where}: expected a JSON object, got {type(rec).__name__}.")
    text = _field(rec, cfg.fields.instruction, where, required=True)
    if not text.strip():
        raise LionError(f"{where}, field '{cfg.fields.instruction}': the instruction is empty.")
    instances = rec.get("instances")
    if fmt == "self_instruct" or (fmt == "auto" and isinstance(instances, list)):
        if not isinstance(instances, list):
            raise LionError(f"{where}, field 'instances': expected a list of {{input, output}} objects.")
        first = instances[0] if instances else {}
        if not isinstance(first, dict):
            raise LionError(f"{where}, field 'instances': expected a list of {{input, output}} objects.")
        inp = _field(first, "input", f"{where}, instances[0]", required=False)
    else:
        inp = _field(rec, cfg.fields.input, where, required=False)
    return Instruction.make(text, inp, category=_field(rec, cfg.fields.category, where, required=False).strip())


def _dedupe(items: list[Instruction]) -> list[Instruction]:
    seen: set[str] = set()
    out = []
    for it in items:
        if it.id not in seen:
            seen.add(it.id)
            out.append(it)
    return out


def load_seed_file(path: Path, cfg: DataConfig) -> list[Instruction]:
    path = Path(path)
    items = [
        _to_instruction(rec, f"{path}, line {line}", cfg, cfg.format)
        for line, rec in read_records(path)
    ]
    if not items:
        raise LionError(f"{path}: the file holds no records.")
    return items


def _load_hf(name: str, cfg: DataConfig) -> list[Instruction]:
    import datasets

    try:
        ds = datasets.load_dataset(name, split=cfg.split)
    except Exception as e:  # offline, unknown name, no such split: all the user can act on
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LionError(f"could not load the Hugging Face dataset '{name}': {first}") from None
    return [
        _to_instruction(rec, f"{name}, row {i + 1}", cfg, cfg.format) for i, rec in enumerate(ds)
    ]


def load_seeds(cfg: DataConfig, seed: int) -> tuple[list[Instruction], int]:
    """The seed instructions, first occurrence of each id kept; returns (seeds, duplicates)."""
    if cfg.seeds == "arena":
        from lion.arena import parse, seed_set

        items = [Instruction.make(i, x, category=parse(i, x).family) for i, x in seed_set(cfg.arena_size, seed, cfg.arena_sums)]
    elif cfg.seeds.startswith("hf:"):
        items = _load_hf(cfg.seeds[3:], cfg)
    else:
        items = load_seed_file(Path(cfg.seeds), cfg)
    unique = _dedupe(items)
    duplicates = len(items) - len(unique)
    if cfg.limit is not None:
        unique = unique[: cfg.limit]
    return unique, duplicates
