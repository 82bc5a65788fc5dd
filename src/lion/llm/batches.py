"""A role's calls through its provider's Batches API: half the price, waited for, never paid twice.

A stage's uncached calls are cut into batches (at the role's `batch_limits`: the provider's
documented requests and bytes per batch unless the role sets its own) and submitted; each is
recorded in the run's ledger (a table of `cache.sqlite`) before the run waits on it: its input
as soon as it exists (an uploaded file's id, or an id of our own where the batch carries its
requests), the batch as soon as the server names it. A run killed while batches are in flight
finds them there when it starts again and waits for those batches instead of sending their
requests again; an input whose batch was never recorded is matched to the server's batches (by
the file it was made from, or, where the provider records none, by when it was made and how
many requests it holds) and batched only if none matches. When a batch ends, its results are
read into the response cache like online answers, each priced at the batch price. What a batch
did not answer (it expired, was cancelled, or failed the request with a server error) is sent
again in the next batch; a request the server refused for itself is failed at once. A result
that cannot be read fails that request, not the batch. The backend (`SendsBatches`) speaks
its provider's API; everything here is the same for every provider.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lion.core.chat import BATCH_ENDED, BatchState, CallError, Completion, Message, SendsBatches
from lion.core.config import BatchSettings, RunConfig
from lion.core.errors import LionError
from lion.llm.backends import build_model

_DOWNLOAD_TRIES = 4
# a batch the server made from an input we never saw named may carry a creation time this much
# before the moment we recorded the input (clocks of two machines)
_CLOCK_SLACK_S = 120.0


@dataclass(frozen=True)
class Request:
    """One uncached call: its cache key (the batch line's custom_id), messages and request body."""

    key: str
    messages: list[Message]
    body: dict


@dataclass
class Entry:
    """A ledger row: one batch's input (`file_id`: an uploaded file's id, or our own) and, once
    the server has named it, its batch."""

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
    settings: BatchSettings  # with its limits set (`RoleConfig.batch_settings`)
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
        await self._attach(entries, wanted)
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
        """The requests as batch lines, cut where a batch would pass the request or byte limit."""
        max_requests, max_bytes = self.settings.max_requests, self.settings.max_bytes
        chunks: list[list[tuple[Request, bytes]]] = []
        size = 0
        for r in todo:
            line = self.model.batch_line(r.key, r.body)
            if not chunks or len(chunks[-1]) >= max_requests or size + len(line) > max_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append((r, line))
            size += len(line)
        return chunks

    async def _submit(self, chunk: list[tuple[Request, bytes]]) -> Entry:
        name = f"lion-{self.role}-{self.stage or 'calls'}-{int(time.time())}.jsonl"
        lines = [line for _, line in chunk]
        input_id = await self.model.open_batch(name, lines)
        entry = Entry(input_id, None, self.role, self.endpoint, self.stage, [r.key for r, _ in chunk], "uploaded", time.time())
        self.ledger.add(entry)  # before the batch exists: a kill from here on leaves a trace to follow
        await self._create(entry, lines)
        return entry

    async def _create(self, entry: Entry, lines: list[bytes]) -> None:
        batch = await self.model.create_batch(entry.file_id, lines, {"lion_role": self.role, "lion_stage": self.stage})
        self._follow(entry, batch)

    def _follow(self, entry: Entry, batch: BatchState) -> None:
        entry.batch_id, entry.state = batch.id, batch.status
        entry.counts = {"completed": batch.done, "failed": batch.failed}
        self.ledger.update(entry)

    async def _attach(self, entries: list[Entry], wanted: dict[str, Request]) -> None:
        """Entries whose batch was never named: the server's batch of that input, or a new one."""
        unnamed = [e for e in entries if e.batch_id is None]
        if not unnamed:
            return
        listed = await self.model.list_batches()
        known = {e.batch_id for e in self.ledger.entries() if e.batch_id}
        for e in unnamed:
            found = _made_from(e, [b for b in listed if b.id not in known])
            if found is not None:
                known.add(found.id)
                self._follow(e, found)
            else:
                await self._create(e, [self.model.batch_line(k, wanted[k].body) for k in e.keys if k in wanted])

    async def _wait(self, entries: list[Entry], show: Show) -> None:
        """Look at every batch until each has ended, waiting longer between looks."""
        start, pause = time.monotonic(), self.settings.poll_s
        while True:
            for e in entries:
                if e.state not in BATCH_ENDED:
                    self._follow(e, await self.model.retrieve_batch(e.batch_id))
            done = sum((e.counts or {}).get("completed", 0) for e in entries)
            failed = sum((e.counts or {}).get("failed", 0) for e in entries)
            total = sum(len(e.keys) for e in entries)
            elapsed = int(time.monotonic() - start)
            show(f"{len(entries)} batch{'es' if len(entries) > 1 else ''}: {done:,} done, {failed:,} failed of {total:,}, "
                 f"{elapsed // 60}m{elapsed % 60:02d}s")
            if all(e.state in BATCH_ENDED for e in entries):
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.settings.poll_max_s)

    async def _collect(self, e: Entry, wanted: dict[str, Request], results: dict, store: Store) -> None:
        """Read an ended batch's results: answers into the cache (any request of the batch, wanted
        now or not), outcomes of the wanted requests into `results`."""
        cost: float | None = 0.0
        for key, outcome in await self._download(e):
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

    async def _download(self, e: Entry) -> list[tuple[str | None, Completion | CallError]]:
        """A batch's results, tried a few times; the ledger keeps the batch to collect on the next
        run when they cannot be had."""
        batch = BatchState(e.batch_id, e.state, size=len(e.keys), input_id=e.file_id)
        for attempt in range(_DOWNLOAD_TRIES):
            try:
                return await self.model.batch_results(batch)
            except CallError as error:
                if not error.retryable or attempt == _DOWNLOAD_TRIES - 1:
                    raise LionError(f"{self.role}: could not download the results of batch {e.batch_id}: "
                                    f"{error.reason}; run the same command again to collect it") from None
                await asyncio.sleep(self.settings.poll_s * 2**attempt)
        raise AssertionError("unreachable")


def _made_from(entry: Entry, batches: list[BatchState]) -> BatchState | None:
    """The server's batch made from the entry's input: the one that names its file, or, where the
    provider names none, the earliest made since the input was recorded with as many requests."""
    named = [b for b in batches if b.input_id == entry.file_id]
    if named:
        return named[0]
    fits = [b for b in batches if b.input_id is None and b.size == len(entry.keys) and b.created >= entry.created - _CLOCK_SLACK_S]
    return min(fits, key=lambda b: b.created, default=None)


def cancel_in_flight(cfg: RunConfig, cache_path: Path) -> list[str]:
    """Cancel a run's batches still in flight, each through its role's endpoint; a line per batch.
    The run resumes afterwards like any stopped run: what the cancelled batches had done is
    collected, the rest sent again."""
    ledger = BatchLedger(cache_path)
    loop = asyncio.new_event_loop()
    try:
        out = []
        for e in ledger.entries():
            if e.batch_id is None or e.state in (*BATCH_ENDED, "collected", "cancelling"):
                continue
            model = build_model(e.role, getattr(cfg, e.role), cfg.torch_threads())
            try:
                batch = loop.run_until_complete(model.cancel_batch(e.batch_id))
            except CallError as error:
                out.append(f"{e.batch_id} ({e.role}): not cancelled: {error.reason}")
                continue
            finally:
                loop.run_until_complete(model.aclose())
            e.state = batch.status
            ledger.update(e)
            out.append(f"{e.batch_id} ({e.role}): {e.state}")
        return out or ["no batch of this run is in flight."]
    finally:
        loop.close()
        ledger.close()
