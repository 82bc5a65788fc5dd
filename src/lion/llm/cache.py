"""Persistent answer cache: every paid (or slow) answer is stored before it is used.

Keyed by everything that decides the answer, so a resumed or repeated run asks nothing twice,
and a deliberate repeat (another sample) stays a distinct entry. SQLite in WAL mode keeps each
insert atomic and lets other processes read while a run writes.

Each fresh answer also records who asked (role, stage) and what it cost, so the run's spend
is a sum over this file: exact across kills and resumes, and never counted twice for an
answer served from the cache. It records where it came from (endpoint, model) and our
estimate of its prompt beside the prompt tokens billed, so what an endpoint bills for a
prompt is learned again from this file when a run resumes, and `lion estimate --calibrate`
can read it from an earlier run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from lion.core.chat import Completion, Usage

_COLUMNS = (
    ("key", "TEXT PRIMARY KEY"),
    ("model", "TEXT NOT NULL"),
    ("text", "TEXT NOT NULL"),
    ("finish_reason", "TEXT NOT NULL"),
    ("prompt_tokens", "INTEGER"),
    ("completion_tokens", "INTEGER"),
    ("role", "TEXT"),
    ("stage", "TEXT"),
    ("cost_usd", "REAL"),
    ("created", "REAL"),
    ("endpoint", "TEXT"),
    ("prompt_estimate", "INTEGER"),  # the prompt at four characters a token, for what was billed against it
    ("cache_read_tokens", "INTEGER"),  # of prompt_tokens, those the provider's prompt cache read
    ("cache_write_tokens", "INTEGER"),  # and those it wrote
)


def request_key(parts: dict[str, Any]) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: Path, read_only: bool = False):
        """`read_only` opens the cache of a run that may be going on elsewhere, to report on it
        without writing a byte."""
        self.path = Path(path)
        if read_only:
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
            self._columns = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
            return
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"CREATE TABLE IF NOT EXISTS responses ({', '.join(' '.join(c) for c in _COLUMNS)})")
        have = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
        for name, kind in _COLUMNS:  # caches written before a column existed gain it empty
            if name not in have:
                self._db.execute(f"ALTER TABLE responses ADD COLUMN {name} {kind}")
        self._columns = {name for name, _ in _COLUMNS}

    def get(self, key: str) -> Completion | None:
        row = self._db.execute(
            "SELECT text, finish_reason, prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens"
            " FROM responses WHERE key=?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return Completion(row[0], row[1], Usage(row[2] or 0, row[3] or 0, row[4] or 0, row[5] or 0))

    def put(
        self, key: str, model: str, c: Completion, *, role: str = "", stage: str = "", cost_usd: float | None = 0.0,
        endpoint: str | None = None, prompt_estimate: int | None = None,
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO responses (key, model, text, finish_reason, prompt_tokens, completion_tokens,"
            " role, stage, cost_usd, created, endpoint, prompt_estimate, cache_read_tokens, cache_write_tokens)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, model, c.text, c.finish_reason, c.usage.prompt_tokens, c.usage.completion_tokens,
             role, stage, cost_usd, time.time(), endpoint, prompt_estimate, c.usage.cache_read_tokens,
             c.usage.cache_write_tokens),
        )

    def spent_usd(self) -> float:
        return self._db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM responses").fetchone()[0]

    def usage(self) -> list[dict]:
        """Calls, tokens and cost per (role, stage) of the answers fetched by this run.

        A cost is None where some answer's price was unknown. `cache_read_tokens` are the prompt
        tokens the provider's prompt cache served (a cache written before they were counted has none).
        """
        cached = "SUM(cache_read_tokens)" if "cache_read_tokens" in self._columns else "0"
        rows = self._db.execute(
            "SELECT role, stage, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_usd),"
            f" SUM(cost_usd IS NULL), {cached} FROM responses WHERE role != '' GROUP BY role, stage ORDER BY MIN(created)"
        ).fetchall()
        return [
            {"role": r, "stage": s, "calls": n, "prompt_tokens": p or 0, "completion_tokens": c or 0,
             "cache_read_tokens": read or 0, "cost_usd": None if unknown else round(cost or 0.0, 6)}
            for r, s, n, p, c, cost, unknown, read in rows
        ]

    def prompt_billing(self) -> list[dict]:
        """What was billed for prompts against our estimate of them, per (role, endpoint, model).

        Each row: the answers counted, their billed and estimated prompt tokens summed, and the
        largest billed/estimated ratio and billed-minus-estimated excess of any one of them.
        Answers stored before estimates were (or without a prompt the server reported) are left
        out; a cache that predates the columns has none.
        """
        if not {"endpoint", "prompt_estimate"} <= self._columns:
            return []
        rows = self._db.execute(
            "SELECT role, endpoint, model, COUNT(*), SUM(prompt_tokens), SUM(prompt_estimate),"
            " MAX(CAST(prompt_tokens AS REAL) / prompt_estimate), MAX(prompt_tokens - prompt_estimate)"
            " FROM responses WHERE endpoint IS NOT NULL AND prompt_estimate > 0 AND prompt_tokens > 0"
            " GROUP BY role, endpoint, model"
        ).fetchall()
        return [
            {"role": r or "", "endpoint": e, "model": m, "calls": n, "prompt_tokens": p, "prompt_estimate": est,
             "max_ratio": ratio, "max_excess": excess}
            for r, e, m, n, p, est, ratio, excess in rows
        ]

    def spend(self) -> dict:
        """LLM calls, tokens and dollars per role, per step and in all; None where a price is unknown."""
        by_role: dict[str, dict] = {}
        by_step: dict[str, dict] = {}
        total: dict = {}
        for row in self.usage():
            add_usage(by_role.setdefault(row["role"], {}), row)
            add_usage(by_step.setdefault(row["stage"], {}), row)
            add_usage(total, row)
        return {"total": total, "by_role": by_role, "by_step": by_step}

    def close(self) -> None:
        self._db.close()


def add_usage(into: dict, row: dict) -> None:
    """Add a `usage()` row to a running total; the cost stays None once any price is unknown."""
    for name in ("calls", "prompt_tokens", "completion_tokens", "cache_read_tokens"):
        into[name] = into.get(name, 0) + row[name]
    known = into.get("cost_usd", 0.0) is not None and row["cost_usd"] is not None
    into["cost_usd"] = round(into.get("cost_usd", 0.0) + row["cost_usd"], 6) if known else None
