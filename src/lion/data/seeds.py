"""Loading the seed instructions: Alpaca JSON/JSONL, Self-Instruct, or a Hugging Face dataset.

Every refusal is one sentence naming the file, the line and the field, because a seed file is
usually hand-made or converted and the user needs to find the bad record, not read a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lion.core.config import DataConfig
from lion.core.errors import LionError
from lion.core.hub import HubUnreachable, hub_online, offline_reason
from lion.core.jsonio import read_records, text_field
from lion.core.records import Instruction


def _to_instruction(rec: Any, where: str, cfg: DataConfig, fmt: str) -> Instruction:
    if not isinstance(rec, dict):
        raise LionError(f"{where}: expected a JSON object, got {type(rec).__name__}.")
    text = text_field(rec, cfg.fields.instruction, where, required=True)
    if not text.strip():
        raise LionError(f"{where}, field '{cfg.fields.instruction}': the instruction is empty.")
    instances = rec.get("instances")
    if fmt == "self_instruct" or (fmt == "auto" and isinstance(instances, list)):
        if not isinstance(instances, list):
            raise LionError(f"{where}, field 'instances': expected a list of {{input, output}} objects.")
        first = instances[0] if instances else {}
        if not isinstance(first, dict):
            raise LionError(f"{where}, field 'instances': expected a list of {{input, output}} objects.")
        inp = text_field(first, "input", f"{where}, instances[0]", required=False)
    else:
        inp = text_field(rec, cfg.fields.input, where, required=False)
    return Instruction.make(text, inp, category=text_field(rec, cfg.fields.category, where, required=False).strip())


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
        for line, rec in read_records(path, "seed file")
    ]
    if not items:
        raise LionError(f"{path}: the file holds no records.")
    return items


def _load_hf(name: str, cfg: DataConfig) -> list[Instruction]:
    """A Hub dataset's records; from the local cache alone, at once, where the Hub cannot be
    reached (`lion.core.hub`), instead of after half a minute of the client's retries."""
    online = hub_online(name, "dataset")
    import datasets

    try:
        ds = datasets.load_dataset(name, split=cfg.split)
    except Exception as e:  # offline, unknown name, no such split: all the user can act on
        if not online and isinstance(e, OSError):  # what the library raises for a file it may not fetch
            raise HubUnreachable(f"could not load the Hugging Face dataset '{name}': it is not in this machine's "
                                 f"Hugging Face cache, and {offline_reason()}.") from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LionError(f"could not load the Hugging Face dataset '{name}': {first}") from None
    return [
        _to_instruction(rec, f"{name}, row {i + 1}", cfg, cfg.format) for i, rec in enumerate(ds)
    ]


def load_seeds(cfg: DataConfig, seed: int) -> tuple[list[Instruction], int]:
    """The seed instructions, first occurrence of each id kept; returns (seeds, duplicates)."""
    if cfg.seeds == "arena":
        from lion.arena import parse, seed_set

        drawn = seed_set(cfg.arena_size, seed, cfg.arena_sums, cfg.arena_procedures, cfg.arena_facts, cfg.arena_wide)
        items = [Instruction.make(i, x, category=parse(i, x).family) for i, x in drawn]
    elif cfg.seeds.startswith("hf:"):
        items = _load_hf(cfg.seeds[3:], cfg)
    else:
        items = load_seed_file(Path(cfg.seeds), cfg)
    unique = _dedupe(items)
    duplicates = len(items) - len(unique)
    if cfg.limit is not None:
        unique = unique[: cfg.limit]
    return unique, duplicates
