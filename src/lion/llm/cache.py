"""Persistent answer cache: every paid (or slow) answer is stored before it is used.

Keyed by everything that decides the answer, so a resumed or repeated run asks nothing twice,
and a deliberate repeat (another sample) stays a distinct entry. SQLite in WAL mode keeps each
insert atomic and lets other processes read while a run writes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from lion.llm.base import Completion, Usage


def request_key(parts: dict[str, Any]) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            " key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL,"
            " finish_reason TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER)"
        )

    def get(self, key: str) -> Completion | None:
        row = self._db.execute(
            "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM responses WHERE key=?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return Completion(row[0], row[1], Usage(row[2] or 0, row[3] or 0))

    def put(self, key: str, model: str, c: Completion) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
            (key, model, c.text, c.finish_reason, c.usage.prompt_tokens, c.usage.completion_tokens),
        )

    def count(self, model: str | None = None) -> int:
        if model is None:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM responses WHERE model=?", (model,)).fetchone()[0]

    def close(self) -> None:
        self._db.close()
