"""Batches for the served arena, offline, slow, failing or expiring on demand: the timing both
APIs' batches share, and OpenAI's Files and Batches API on it (Anthropic's Message Batches are
in `lion.arena.message_batches`, on the same store, options and clock).

A batch's requests are answered by the same function as online requests (`Answer`), so a batch
and the same calls made one at a time get the same replies, and the server's request log counts
both. Time drives a batch: it is in progress for `delay_s` after it is created, its requests
getting done one after another in a seeded order at an even pace, and it is completed once all
are. With `expiry_s` shorter than that it expires part way, as a real batch that misses its
completion window does: the requests done by then are in the output file, the others in the
error file (`batch_expired`). A cancelled batch ends the same way (`batch_cancelled`). A share
of the requests (`failure_rate`, drawn per request from the seed and its custom_id) fails with a
server error. The output and error files are written when the batch ends; a batch is advanced
whenever it is looked at, so no timer runs.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from lion.core.config import Strict

Answer = Callable[[dict[str, Any]], Awaitable[tuple[int, dict[str, Any]]]]  # request body -> (status, response body)

ENDPOINT = "/v1/chat/completions"  # the one endpoint the arena serves, in a batch as online
WINDOW = "24h"
_WINDOW_S = 24 * 3600
ENDED = ("completed", "expired", "cancelled", "failed")


class BatchOptions(Strict):
    """How the served arena's batches behave."""

    delay_s: float = Field(0.0, ge=0, description="seconds from a batch's creation until all its requests are done")
    failure_rate: float = Field(0.0, ge=0, le=1, description="share of a batch's requests that fail with a 500")
    expiry_s: float | None = Field(
        None, gt=0, description="seconds after which a batch still in progress expires with only part done"
    )
    max_requests: int = Field(50_000, ge=1, description="requests one batch may hold, as OpenAI's limit")
    max_file_bytes: int = Field(200 * 2**20, ge=1, description="bytes one uploaded file may hold")
    anthropic_max_requests: int = Field(
        100_000, ge=1, description="requests one Message Batch may hold, as Anthropic's limit"
    )
    anthropic_max_bytes: int = Field(
        256 * 2**20, ge=1, description="bytes one Message Batch's creation request may hold, as Anthropic's limit"
    )


class BatchError(Exception):
    """A request the API refuses: its HTTP status, message and the parameter at fault."""

    def __init__(self, status: int, message: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed"}


@dataclass
class _Batch:
    id: str
    input_file_id: str
    created_at: float
    metadata: dict[str, str] | None
    requests: list[dict[str, Any]]  # the input file's lines, in order
    order: list[int]  # the order in which they get done
    status: str = "in_progress"
    errors: list[dict[str, Any]] = field(default_factory=list)
    stamps: dict[str, int] = field(default_factory=dict)  # in_progress_at, completed_at, ...
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


class BatchStore:
    """The files and batches of one served arena, kept in memory, and the timing all its batches follow.

    `options` and `clock` are read afresh whenever a batch is looked at, of either API, so a test
    that sets them mid-run moves every batch on.
    """

    def __init__(self, options: BatchOptions, answer: Answer, seed: int, clock: Callable[[], float] = time.time):
        self.options, self.answer, self.seed, self.clock = options, answer, seed, clock
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, _Batch] = {}
        self.submitted: dict[str, int] = {}  # custom_id -> batches it was sent in, of either API
        self.sent = 0  # batches created, of either API

    # --- the timing both APIs' batches follow ---------------------------------------------------

    def register(self, custom_ids: list[str]) -> None:
        """Count a new batch and its requests as sent, for /stats."""
        self.sent += 1
        for custom_id in custom_ids:
            self.submitted[custom_id] = self.submitted.get(custom_id, 0) + 1

    def order(self, batch_id: str, n: int) -> list[int]:
        """The seeded order in which a batch's `n` requests get done."""
        order = list(range(n))
        random.Random(f"{self.seed} {batch_id}").shuffle(order)
        return order

    def done_by(self, created_at: float, n: int, t: float) -> int:
        """How many of a batch's `n` requests are done at time `t`: all at once, or at an even pace."""
        delay = self.options.delay_s
        return n if delay <= 0 else min(n, int(n * max(0.0, t - created_at) / delay))

    def expired_with(self, created_at: float, n: int, now: float) -> int | None:
        """The requests done when the batch expired, or None while it has not (or finished in time)."""
        expiry = self.options.expiry_s
        if expiry is None or now - created_at < expiry:
            return None
        done = self.done_by(created_at, n, created_at + expiry)
        return done if done < n else None

    def fails(self, batch_id: str, custom_id: str) -> bool:
        """Whether this request of this batch fails on purpose (`failure_rate`, drawn from the seed)."""
        rate = self.options.failure_rate
        draw = hashlib.sha256(f"{self.seed} {batch_id} {custom_id}".encode()).digest()
        return rate > 0 and int.from_bytes(draw[:8], "big") / 2**64 < rate

    # --- files ---------------------------------------------------------------------------------

    def add_file(self, filename: str, purpose: str, data: bytes) -> StoredFile:
        if len(data) > self.options.max_file_bytes:
            raise BatchError(400, f"The file is {len(data)} bytes; this server takes at most "
                             f"{self.options.max_file_bytes} bytes per file.", "file")
        stored = StoredFile(_new_id("file"), filename, purpose, data, int(self.clock()))
        self.files[stored.id] = stored
        return stored

    def file(self, file_id: str) -> StoredFile:
        if file_id not in self.files:
            raise BatchError(404, f"No such File object: {file_id}", "file_id")
        return self.files[file_id]

    def delete_file(self, file_id: str) -> dict[str, Any]:
        self.file(file_id)
        del self.files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def stats(self) -> dict[str, int]:
        """Requests sent in batches of either API, and those sent in more than one (a client that resubmits)."""
        return {"batched": sum(self.submitted.values()), "batched_again": sum(n > 1 for n in self.submitted.values()),
                "batches": self.sent}

    # --- batches -------------------------------------------------------------------------------

    def create(self, input_file_id: str, endpoint: str, window: str, metadata: dict[str, str] | None) -> dict[str, Any]:
        if endpoint != ENDPOINT:
            raise BatchError(400, f"The arena serves batches for {ENDPOINT} only, not {endpoint}.", "endpoint")
        if window != WINDOW:
            raise BatchError(400, f"completion_window must be '{WINDOW}'.", "completion_window")
        source = self.file(input_file_id)
        if source.purpose != "batch":
            raise BatchError(400, f"The file {input_file_id} was uploaded for '{source.purpose}', not 'batch'.",
                             "input_file_id")
        batch_id = _new_id("batch")
        requests, errors = self._read_requests(source.data)
        now = self.clock()
        batch = _Batch(batch_id, input_file_id, now, metadata, requests, self.order(batch_id, len(requests)),
                       stamps={"in_progress_at": int(now)})
        if errors:
            batch.status, batch.errors, batch.stamps = "failed", errors, {"failed_at": int(now)}
        self.register([r["custom_id"] for r in requests])
        self.batches[batch_id] = batch
        return self.describe(batch)

    def _read_requests(self, data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The input file's requests, or the errors that fail the batch at validation, as OpenAI's
        name them (a line, its problem)."""
        requests, errors, seen = [], [], set()
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                errors.append(_line_error(n, "invalid_json_line", "This line is not valid JSON."))
                continue
            problem = _request_problem(item, seen)
            if problem:
                errors.append(_line_error(n, "invalid_request", problem))
                continue
            seen.add(item["custom_id"])
            requests.append(item)
        if not requests and not errors:
            errors.append(_line_error(None, "empty_file", "The input file holds no requests."))
        if len(requests) > self.options.max_requests:
            errors.append(_line_error(None, "too_many_requests", f"The input file holds {len(requests)} requests; "
                                      f"a batch may hold at most {self.options.max_requests}."))
        return requests, errors[:1000]

    def batch(self, batch_id: str) -> _Batch:
        if batch_id not in self.batches:
            raise BatchError(404, f"No such Batch object: {batch_id}", "batch_id")
        return self.batches[batch_id]

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        batch = self.batch(batch_id)
        await self._advance(batch)
        return self.describe(batch)

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        """Cancelling ends the batch at once, with what was done by then in its output file."""
        batch = self.batch(batch_id)
        await self._advance(batch)
        if batch.status in ENDED:
            raise BatchError(409, f"Cannot cancel a batch with status '{batch.status}'.")
        batch.stamps["cancelling_at"] = int(self.clock())
        await self._end(batch, "cancelled", self.done_by(batch.created_at, len(batch.requests), self.clock()))
        return self.describe(batch)

    async def listing(self, limit: int, after: str | None) -> dict[str, Any]:
        """Newest first, `limit` at a time after the batch named by `after`, as OpenAI pages them."""
        ids = sorted(self.batches, key=lambda i: self.batches[i].created_at, reverse=True)
        start = ids.index(after) + 1 if after in ids else 0
        page = ids[start:start + limit]
        for i in page:
            await self._advance(self.batches[i])
        data = [self.describe(self.batches[i]) for i in page]
        return {"object": "list", "data": data, "first_id": page[0] if page else None,
                "last_id": page[-1] if page else None, "has_more": start + limit < len(ids)}

    async def _advance(self, batch: _Batch) -> None:
        if batch.status in ENDED:
            return
        now, n = self.clock(), len(batch.requests)
        by_expiry = self.expired_with(batch.created_at, n, now)
        if by_expiry is not None:
            await self._end(batch, "expired", by_expiry)
        elif self.done_by(batch.created_at, n, now) >= n:
            await self._end(batch, "completed", n)
        else:
            done = [batch.requests[i] for i in batch.order[:self.done_by(batch.created_at, n, now)]]
            batch.failed = sum(self.fails(batch.id, r["custom_id"]) for r in done)
            batch.completed = len(done) - batch.failed

    async def _end(self, batch: _Batch, status: str, done: int) -> None:
        """Answer the requests done, write the output and error files, and close the batch."""
        outputs, errors = [], []
        for i in batch.order[:done]:
            request = batch.requests[i]
            if self.fails(batch.id, request["custom_id"]):
                code, body = 500, {"error": {"message": "The arena failed this batch request on purpose.",
                                             "type": "server_error", "param": None, "code": None}}
            else:
                code, body = await self.answer(request["body"])
            line = {"id": _new_id("batch_req"), "custom_id": request["custom_id"],
                    "response": {"status_code": code, "request_id": _new_id("req"), "body": body}, "error": None}
            (outputs if code == 200 else errors).append(line)
        reason = {"expired": ("batch_expired", "This request could not be executed before the completion window expired."),
                  "cancelled": ("batch_cancelled", "This request was not executed: its batch was cancelled.")}
        for i in batch.order[done:]:
            code, message = reason[status]
            errors.append({"id": _new_id("batch_req"), "custom_id": batch.requests[i]["custom_id"], "response": None,
                           "error": {"code": code, "message": message}})
        batch.completed, batch.failed = len(outputs), len(errors) - (len(batch.requests) - done)
        if outputs:
            batch.output_file_id = self._output(batch, "output", outputs)
        if errors:
            batch.error_file_id = self._output(batch, "errors", errors)
        now = int(self.clock())
        batch.stamps.update({"finalizing_at": now, f"{status}_at": now})
        batch.status = status

    def _output(self, batch: _Batch, what: str, lines: list[dict[str, Any]]) -> str:
        data = "".join(json.dumps(line) + "\n" for line in lines).encode("utf-8")
        stored = StoredFile(_new_id("file"), f"{batch.id}_{what}.jsonl", "batch_output", data, int(self.clock()))
        self.files[stored.id] = stored
        return stored.id

    def describe(self, batch: _Batch) -> dict[str, Any]:
        stamps = {k: batch.stamps.get(k) for k in ("in_progress_at", "finalizing_at", "completed_at", "failed_at",
                                                   "expired_at", "cancelling_at", "cancelled_at")}
        return {
            "id": batch.id, "object": "batch", "endpoint": ENDPOINT, "completion_window": WINDOW,
            "input_file_id": batch.input_file_id, "status": batch.status,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
            "created_at": int(batch.created_at), "expires_at": int(batch.created_at) + _WINDOW_S, **stamps,
            "request_counts": {"total": len(batch.requests), "completed": batch.completed, "failed": batch.failed},
            "metadata": batch.metadata,
        }


def _line_error(line: int | None, code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "param": None, "line": line}


def _request_problem(item: Any, seen: set[str]) -> str | None:
    if not isinstance(item, dict):
        return "A request must be a JSON object."
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "custom_id must be a non-empty string."
    if custom_id in seen:
        return f"The custom_id {custom_id!r} is used by an earlier line; each must be unique."
    if item.get("method") != "POST":
        return "method must be 'POST'."
    if item.get("url") != ENDPOINT:
        return f"url must be '{ENDPOINT}', the batch's endpoint."
    if not isinstance(item.get("body"), dict):
        return "body must be a JSON object."
    return None
