"""Anthropic's Message Batches for the served arena, on the timing OpenAI's batches follow.

A Message Batch lives on the same `BatchStore` as OpenAI's batches: the same options (delay,
failure rate, expiry), the same clock, the same seeded order and failure draw, and the same
count of what was sent, so a test that moves the clock or changes the options moves both
APIs' batches, and `/stats` catches a request sent twice whichever API sent it.

What differs is Anthropic's shape. A batch is `in_progress` until all its requests are done
and then `ended`; its `request_counts` stay all `processing` until then, as Anthropic's do.
Each request is answered as the same request online is (`Answer`), its params validated only
then, as Anthropic validates them asynchronously: an invalid one ends `errored` with the error
the online request gets. A request drawn to fail (`failure_rate`) ends `errored` with an
`api_error`. Expiry (`expiry_s`) ends the requests not done by then `expired`. A cancel marks
the batch `canceling` in its reply; the next look at the batch ends it, the requests done by
the cancel answered and the others `canceled`. Results are one JSON line per request, in the
order the requests were done, readable once the batch has ended.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from lion.arena.batches import Answer, BatchError, BatchStore

_WINDOW_S = 24 * 3600  # a Message Batch expires a day after its creation at the latest


@dataclasses.dataclass
class MessageBatch:
    id: str
    created_at: float
    requests: list[tuple[str, dict[str, Any]]]  # (custom_id, params), in the order sent
    order: list[int]  # the order in which they get done
    cancel_at: float | None = None
    done_at_cancel: int | None = None  # the requests done when the cancel came, whatever the options are later
    ended_at: float | None = None
    results: list[dict[str, Any]] | None = None  # one line per request, once ended

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if self.results is None:
            counts["processing"] = len(self.requests)
        for line in self.results or ():
            counts[line["result"]["type"]] += 1
        return counts


def page_of(ids: list[str], limit: int, after_id: str | None, before_id: str | None) -> tuple[list[str], bool]:
    """A page of `ids` as Anthropic's cursors page lists, and whether there are more beyond it.

    `after_id` pages on (the `limit` ids after it), `before_id` back (the `limit` ids before it);
    a cursor that names nothing listed gives an empty page, so a client paging with it stops.
    """
    cursor = after_id if after_id is not None else before_id
    if cursor is not None and cursor not in ids:
        return [], False
    if before_id is not None:
        end = ids.index(before_id)
        return ids[max(0, end - limit):end], end - limit > 0
    start = ids.index(after_id) + 1 if after_id is not None else 0
    return ids[start:start + limit], start + limit < len(ids)


def rfc3339(t: float | None) -> str | None:
    """A Unix time as Anthropic writes its times, in UTC with a Z."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_body(kind: str, message: str) -> dict[str, Any]:
    """An error in Anthropic's shape, as a reply's body and inside an errored result."""
    return {"type": "error", "error": {"type": kind, "message": message}}


class MessageBatchStore:
    """The Message Batches of one served arena, kept in memory, timed by the shared `BatchStore`."""

    def __init__(self, core: BatchStore, answer: Answer) -> None:
        self.core, self.answer = core, answer
        self.batches: dict[str, MessageBatch] = {}

    def create(self, requests: list[tuple[str, dict[str, Any]]]) -> MessageBatch:
        """A new batch of (custom_id, params); the caller has checked the ids and the batch's size."""
        batch_id = f"msgbatch_{secrets.token_hex(12)}"
        batch = MessageBatch(batch_id, self.core.clock(), requests, self.core.order(batch_id, len(requests)))
        self.core.register([custom_id for custom_id, _ in requests])
        self.batches[batch_id] = batch
        return batch

    def batch(self, batch_id: str) -> MessageBatch:
        if batch_id not in self.batches:
            raise BatchError(404, f"No Message Batch with id {batch_id!r}.", "message_batch_id")
        return self.batches[batch_id]

    async def retrieve(self, batch_id: str) -> MessageBatch:
        batch = self.batch(batch_id)
        await self._advance(batch)
        return batch

    async def cancel(self, batch_id: str) -> MessageBatch:
        """Mark the batch canceling; it ends at the next look, with what was done by now."""
        batch = await self.retrieve(batch_id)
        if batch.results is not None:
            raise BatchError(400, f"Message Batch {batch_id} has already ended and cannot be canceled.")
        if batch.cancel_at is None:
            batch.cancel_at = self.core.clock()
            batch.done_at_cancel = self.core.done_by(batch.created_at, len(batch.requests), batch.cancel_at)
        return batch

    async def listing(self, limit: int, after_id: str | None, before_id: str | None) -> tuple[list[MessageBatch], bool]:
        """A page of batches, newest first (see `page_of`), each brought up to date."""
        ids = sorted(self.batches, key=lambda i: self.batches[i].created_at, reverse=True)
        page, more = page_of(ids, limit, after_id, before_id)
        for i in page:
            await self._advance(self.batches[i])
        return [self.batches[i] for i in page], more

    async def results(self, batch_id: str) -> bytes:
        batch = await self.retrieve(batch_id)
        if batch.results is None:
            status = "canceling" if batch.cancel_at is not None else "in_progress"
            raise BatchError(400, f"Message Batch {batch_id} has not ended yet (processing_status "
                             f"'{status}'); its results are ready once it has.")
        return "".join(json.dumps(line) + "\n" for line in batch.results).encode("utf-8")

    async def _advance(self, batch: MessageBatch) -> None:
        if batch.results is not None:
            return
        now, n = self.core.clock(), len(batch.requests)
        by_expiry = self.core.expired_with(batch.created_at, n, now)
        if batch.done_at_cancel is not None:
            await self._end(batch, batch.done_at_cancel, "canceled")
        elif by_expiry is not None:
            await self._end(batch, by_expiry, "expired")
        elif self.core.done_by(batch.created_at, n, now) >= n:
            await self._end(batch, n, None)

    async def _end(self, batch: MessageBatch, done: int, rest: str | None) -> None:
        """Answer the requests done, give the others `rest` (canceled or expired), and end the batch."""
        results = []
        for i in batch.order[:done]:
            custom_id, params = batch.requests[i]
            if self.core.fails(batch.id, custom_id):
                result = {"type": "errored",
                          "error": error_body("api_error", "The arena failed this batch request on purpose.")}
            else:
                status, body = await self.answer(params)
                result = {"type": "succeeded", "message": body} if status == 200 else {"type": "errored", "error": body}
            results.append({"custom_id": custom_id, "result": result})
        results += [{"custom_id": batch.requests[i][0], "result": {"type": rest}} for i in batch.order[done:]]
        batch.results, batch.ended_at = results, self.core.clock()

    def describe(self, batch: MessageBatch, root: str) -> dict[str, Any]:
        """The batch as Anthropic's API shows it; `root` is this server's address, for `results_url`."""
        status = "ended" if batch.results is not None else "canceling" if batch.cancel_at is not None else "in_progress"
        return {
            "id": batch.id, "type": "message_batch", "processing_status": status,
            "request_counts": batch.counts(),
            "created_at": rfc3339(batch.created_at), "expires_at": rfc3339(batch.created_at + _WINDOW_S),
            "ended_at": rfc3339(batch.ended_at), "cancel_initiated_at": rfc3339(batch.cancel_at),
            "archived_at": None,
            "results_url": f"{root}/v1/messages/batches/{batch.id}/results" if batch.results is not None else None,
        }
