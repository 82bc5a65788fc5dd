"""A role's calls through its provider's Batches API: half the price, waited for, never paid twice.

A stage's uncached calls are written as JSONL request files (split at `batch.max_requests` and
`batch.max_bytes`), uploaded, and submitted as batches; each file and batch is recorded in the
run's ledger (a table of `cache.sqlite`) before the run waits on it: the file as soon as it is
uploaded, the batch as soon as the server names it. A run killed while batches are in flight
finds them there when it starts again and waits for those batches instead of sending their
requests again; a file uploaded whose batch was never recorded is matched to the server's
batches by its file id. When a batch ends, its output and error files are read into the
response cache like online answers, each priced at the batch price. What a batch did not
answer (it expired, was cancelled, or failed the request with a server error) is sent again in
the next batch; a request the server refused for itself is failed at once. A line of the output
that cannot be read fails that request, not the batch.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lion.core.chat import CallError, Completion, Message, SendsBatches
from lion.core.config import BatchSettings, RunConfig
from lion.core.errors import LionError
from lion.llm.backends import build_model

ENDED = ("completed", "expired", "cancelled", "failed")
_DOWNLOAD_TRIES = 4


@dataclass(frozen=True)
class Request:
    """One uncached call: its cache key (the batch line's custom_id), messages and request body."""

    key: str
    messages: list[Message]
    body: dict


@dataclass
class Entry:
    """A ledger row: one uploaded request file and, once the server has named it, its batch."""

    file_id: str
    batch_id: str | None
    role: str
    endpoint: str
    stage: str
    keys: list[str]
    state: str  # uploaded, then the batch's status; collected once its answers are in the cache
    created: float
    counts: dict[str, int] | None = None
    cost_usd: float | None = None


class BatchLedger:
    """The batches of a run, in its cache file, so a killed run knows what it has in flight."""

    def __init__(self, path: Path, read_only: bool = False):
        if read_only:
            self._db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=60)
            return
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS batches (file_id TEXT PRIMARY KEY, batch_id TEXT, role TEXT, endpoint TEXT,"
            " stage TEXT, keys TEXT, state TEXT, created REAL, counts TEXT, cost_usd REAL)"
        )

    def add(self, e: Entry) -> None:
        self._db.execute("INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (e.file_id, e.batch_id, e.role, e.endpoint, e.stage, json.dumps(e.keys), e.state, e.created,
                          json.dumps(e.counts), e.cost_usd))

    def update(self, e: Entry) -> None:
        self._db.execute("UPDATE batches SET batch_id=?, state=?, counts=?, cost_usd=? WHERE file_id=?",
                         (e.batch_id, e.state, json.dumps(e.counts), e.cost_usd, e.file_id))

    def entries(self, role: str | None = None, endpoint: str | None = None) -> list[Entry]:
        try:
            rows = self._db.execute("SELECT * FROM batches ORDER BY created").fetchall()
        except sqlite3.OperationalError:  # a cache from before batches, read-only: none
            return []
        out = [Entry(f, b, r, ep, st, json.loads(k), s, c, json.loads(n) if n else None, cost)
               for f, b, r, ep, st, k, s, c, n, cost in rows]
        return [e for e in out if (role is None or e.role == role) and (endpoint is None or e.endpoint == endpoint)]

    def close(self) -> None:
        self._db.close()


Store = Callable[[str, Completion], float | None]  # caches the answer to a key, returns what it cost
Show = Callable[[str], None]  # progress text while batches are in flight


@dataclass
class BatchSender:
    """One role's batches: `send` answers requests through the Batches API."""

    model: SendsBatches
    settings: BatchSettings
    ledger: BatchLedger
    role: str
    endpoint: str
    stage: str
    max_tries: int  # batches a request may go in before it is given up on

    async def send(self, requests: list[Request], store: Store, show: Show) -> dict[str, Completion | CallError]:
        """Each request's answer, or the error it ended with.

        Batches already in flight for these requests (left by a killed run) are waited for
        first, and every answer they hold is cached, theirs or not; what they leave unanswered
        is sent in new ones.
        """
        wanted = {r.key: r for r in requests}
        results: dict[str, Completion | CallError] = {}
        tries = dict.fromkeys(wanted, 0)
        entries = [e for e in self.ledger.entries(self.role, self.endpoint)
                   if e.state != "collected" and set(e.keys) & set(wanted)]
        await self._attach(entries)
        while True:
            in_flight = {k for e in entries for k in e.keys}
            todo = [r for k, r in wanted.items() if k not in results and k not in in_flight]
            entries += [await self._submit(chunk) for chunk in self._chunks(todo)]
            if not entries:
                return results
            for k in in_flight | {r.key for r in todo}:
                if k in tries:
                    tries[k] += 1
            await self._wait(entries, show)
            for e in entries:
                await self._collect(e, wanted, results, store)
            entries = []
            again = [k for k, r in results.items() if isinstance(r, CallError) and r.retryable and tries[k] < self.max_tries]
            if not again:
                return results
            for k in again:
                del results[k]

    def _chunks(self, todo: list[Request]) -> list[list[tuple[Request, bytes]]]:
        """The requests as batch lines, cut where a file would pass the request or byte limit."""
        chunks: list[list[tuple[Request, bytes]]] = []
        size = 0
        for r in todo:
            line = (json.dumps({"custom_id": r.key, "method": "POST", "url": "/v1/chat/completions", "body": r.body},
                               ensure_ascii=False) + "\n").encode("utf-8")
            if not chunks or len(chunks[-1]) >= self.settings.max_requests or size + len(line) > self.settings.max_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append((r, line))
            size += len(line)
        return chunks

    async def _submit(self, chunk: list[tuple[Request, bytes]]) -> Entry:
        name = f"lion-{self.role}-{self.stage or 'calls'}-{int(time.time())}.jsonl"
        file_id = await self.model.upload_batch_file(name, b"".join(line for _, line in chunk))
        entry = Entry(file_id, None, self.role, self.endpoint, self.stage, [r.key for r, _ in chunk], "uploaded", time.time())
        self.ledger.add(entry)  # before the batch exists: a kill from here on leaves a trace to follow
        await self._create(entry)
        return entry

    async def _create(self, entry: Entry) -> None:
        batch = await self.model.create_batch(entry.file_id, {"lion_role": self.role, "lion_stage": self.stage})
        entry.batch_id, entry.state = batch["id"], batch["status"]
        self.ledger.update(entry)

    async def _attach(self, entries: list[Entry]) -> None:
        """Entries whose batch was never named: the server's batch of that file, or a new one."""
        unnamed = [e for e in entries if e.batch_id is None]
        if not unnamed:
            return
        by_file = {b["input_file_id"]: b for b in await self.model.list_batches()}
        for e in unnamed:
            if e.file_id in by_file:
                e.batch_id, e.state = by_file[e.file_id]["id"], by_file[e.file_id]["status"]
                self.ledger.update(e)
            else:
                await self._create(e)

    async def _wait(self, entries: list[Entry], show: Show) -> None:
        """Look at every batch until each has ended, waiting longer between looks."""
        start, pause = time.monotonic(), self.settings.poll_s
        while True:
            for e in entries:
                if e.state not in ENDED:
                    batch = await self.model.retrieve_batch(e.batch_id)
                    e.state, e.counts = batch["status"], batch.get("request_counts")
                    self.ledger.update(e)
            done = sum((e.counts or {}).get("completed", 0) for e in entries)
            failed = sum((e.counts or {}).get("failed", 0) for e in entries)
            total = sum(len(e.keys) for e in entries)
            elapsed = int(time.monotonic() - start)
            show(f"{len(entries)} batch{'es' if len(entries) > 1 else ''}: {done:,} done, {failed:,} failed of {total:,}, "
                 f"{elapsed // 60}m{elapsed % 60:02d}s")
            if all(e.state in ENDED for e in entries):
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.settings.poll_max_s)

    async def _collect(self, e: Entry, wanted: dict[str, Request], results: dict, store: Store) -> None:
        """Read an ended batch's files: answers into the cache (any request of the batch, wanted
        now or not), outcomes of the wanted requests into `results`."""
        batch = await self.model.retrieve_batch(e.batch_id)
        if e.state == "failed" and batch.get("errors"):
            first = (batch["errors"].get("data") or [{}])[0]
            raise LionError(f"{self.role}: batch {e.batch_id} failed validation: {first.get('message', 'no reason given')} "
                            f"(line {first.get('line')}); its requests were not sent")
        cost: float | None = 0.0
        for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
            if not file_id:
                continue
            for line in (await self._download(e, file_id)).decode("utf-8", "replace").splitlines():
                key, outcome = self._read_line(line, wanted)
                if key is None or isinstance(results.get(key), Completion):
                    continue
                if isinstance(outcome, Completion):
                    paid = store(key, outcome)
                    cost = None if paid is None or cost is None else cost + paid
                if key in wanted:
                    results[key] = outcome
        for k in e.keys:  # neither answered nor failed by the batch: it ended before their turn
            if k in wanted:
                results.setdefault(k, CallError(f"batch {e.batch_id} {e.state} before answering it", retryable=True))
        e.state, e.cost_usd = "collected", cost
        self.ledger.update(e)

    async def _download(self, e: Entry, file_id: str) -> bytes:
        """A batch's output or error file, tried a few times; the ledger keeps the batch to collect
        on the next run when it cannot be had."""
        for attempt in range(_DOWNLOAD_TRIES):
            try:
                return await self.model.file_bytes(file_id)
            except CallError as error:
                if not error.retryable or attempt == _DOWNLOAD_TRIES - 1:
                    raise LionError(f"{self.role}: could not download file {file_id} of batch {e.batch_id}: "
                                    f"{error.reason}; run the same command again to collect it") from None
                await asyncio.sleep(self.settings.poll_s * 2**attempt)
        raise AssertionError("unreachable")

    def _read_line(self, line: str, wanted: dict[str, Request]) -> tuple[str | None, Completion | CallError]:
        """The request a line answers and its outcome; None for a line that names none (the
        request it was meant for is then unanswered, and sent again)."""
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            return None, CallError("unreadable line", retryable=True)
        key = item.get("custom_id") if isinstance(item, dict) else None
        if not isinstance(key, str):
            return None, CallError("a line without a custom_id", retryable=True)
        response, error = item.get("response"), item.get("error")
        if isinstance(error, dict):  # not executed: expired, cancelled
            return key, CallError(f"{error.get('code')}: {error.get('message')}", retryable=True)
        status = response.get("status_code") if isinstance(response, dict) else None
        body = response.get("body") if isinstance(response, dict) else None
        if status == 200:
            try:  # a request of a batch left by a killed run may not be wanted now: its messages are unknown
                return key, self.model.read_reply(body, wanted[key].messages if key in wanted else [])
            except CallError as bad:
                return key, bad
        reason = _reason(body) or "no reason given"
        if status in (401, 403, 404):
            return key, CallError(f"{self.role}: the batch refused the request (HTTP {status}): {reason}",
                                  retryable=False, fatal=True)
        retryable = not isinstance(status, int) or status in (408, 409, 429) or status >= 500
        return key, CallError(f"HTTP {status}: {reason}", retryable=retryable)


def _reason(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("message") if isinstance(error, dict) else None


def cancel_in_flight(cfg: RunConfig, cache_path: Path) -> list[str]:
    """Cancel a run's batches still in flight, each through its role's endpoint; a line per batch.
    The run resumes afterwards like any stopped run: what the cancelled batches had done is
    collected, the rest sent again."""
    ledger = BatchLedger(cache_path)
    loop = asyncio.new_event_loop()
    try:
        out = []
        for e in ledger.entries():
            if e.batch_id is None or e.state in (*ENDED, "collected", "cancelling"):
                continue
            model = build_model(e.role, getattr(cfg, e.role), cfg.torch_threads())
            try:
                batch = loop.run_until_complete(model.cancel_batch(e.batch_id))
            except CallError as error:
                out.append(f"{e.batch_id} ({e.role}): not cancelled: {error.reason}")
                continue
            finally:
                loop.run_until_complete(model.aclose())
            e.state = batch["status"]
            ledger.update(e)
            out.append(f"{e.batch_id} ({e.role}): {e.state}")
        return out or ["no batch of this run is in flight."]
    finally:
        loop.close()
        ledger.close()
