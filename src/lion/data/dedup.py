"""The novelty filter as a tool of its own: keep the records of a file that are new.

Records are kept in order when their highest ROUGE-L against the pool files, and against the
records kept before them, is not above the threshold (dropped only when strictly above, as the
reference implementations do). The output keeps the input's format (a JSON array stays an
array, JSONL stays JSONL) and each kept record exactly as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lion.core import atomic
from lion.core.errors import LionError
from lion.core.jsonio import read_records, read_texts, record_text
from lion.core.progress import bar
from lion.core.records import write_jsonl
from lion.data.similarity import NoveltyIndex


@dataclass
class DedupResult:
    kept: int
    dropped_vs_pool: int
    dropped_vs_input: int


_CHUNK = 5000  # records decided at once, between updates of the progress bar


def dedup(
    source: Path, against: list[Path], out: Path, threshold: float = 0.7, field: str = "instruction",
    dropped: Path | None = None, threads: int = 1,
) -> DedupResult:
    if not 0 < threshold <= 1:
        raise LionError(f"--threshold {threshold:g}: must be above 0 and at most 1.")
    records = [(line, rec, record_text(rec, field, f"{source}, line {line}")) for line, rec in read_records(source, "input file")]
    index = NoveltyIndex(threads)
    for path in against:
        index.add_many([(f"{path.name}, line {line}", text) for line, text in read_texts(path, field, "pool file")])
    pool_size = len(index)
    kept, drops, vs_pool = [], [], 0
    with bar("dedup", len(records)) as advance:
        for start in range(0, len(records), _CHUNK):
            chunk = records[start : start + _CHUNK]
            hits = index.novel([(f"{source.name}, line {line}", text) for line, _, text in chunk], threshold)
            for (line, rec, _), hit in zip(chunk, hits):
                if hit is None:
                    kept.append(rec)
                    continue
                score, item = hit
                vs_pool += item < pool_size
                drops.append({"line": line, "rouge_l": score, "nearest": index.key(item), "record": rec})
            advance(len(chunk))
    _write_like(source, out, kept)
    if dropped is not None:
        write_jsonl(dropped, drops)
    return DedupResult(len(kept), vs_pool, len(drops) - vs_pool)


def _write_like(source: Path, out: Path, records: list) -> None:
    """`records` in the format `source` was read in: a JSON array or JSON lines."""
    if source.read_text(encoding="utf-8-sig").lstrip().startswith("["):
        atomic.write_text(out, json.dumps(records, ensure_ascii=False, indent=2) + "\n")
    else:
        write_jsonl(out, records)
