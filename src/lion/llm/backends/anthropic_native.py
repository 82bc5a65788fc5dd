"""Claude through Anthropic's own Messages API: the system field, prompt caching and Message Batches.

An OpenAI-compatible shim in front of Claude loses three things this backend keeps: batches at
half the price, the prompt cache (cached reads cost a tenth of the input price), and the API's
own error classes (529 overloaded, with `retry-after`). The official SDK's async client does
the HTTP with its retries off, so that the dispatcher alone decides about every retry,
back-off and budget, as for the other remote backends; this module translates a request into
the Messages API's shape and every way a call can fail into a `CallError`.

How our requests map onto the API:
  - system messages go into the `system` field as one text block, marked for the prompt cache:
    the referee's and judge's instructions and the verdict's tool come first in every one of
    their prompts, so the provider bills that prefix at the cache-read price once it is cached.
    A prefix shorter than the model's minimum is billed as plain input, without an error, and
    a prompt without a system message marks nothing;
  - structured output (a JSON schema) is a tool whose input follows the schema, which the model
    is made to call; its input, as JSON text, is the answer that the verdict parser reads;
  - `stop_reason` "max_tokens" is an answer cut off; "refusal" withholds the answer;
  - `usage` gives the whole prompt (plain input, cache writes and reads) and the answer, each
    priced at its own rate (`lion.llm.pricing.usage_cost`).
The API takes no seed: a deliberate repeat of a request (another `sample`) is a new draw only
because the model samples anew, as it does at any temperature above 0.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

import anthropic

from lion.core.chat import BatchState, CallError, Completion, Decoding, Message, Usage, estimate_tokens
from lion.core.config import RoleConfig
from lion.core.errors import LionError
from lion.llm.backends.remote import call_error, read_key, redact, server_message, shown, unreachable

T = TypeVar("T")

_TOOL = "reply"  # the one tool a structured request offers, and makes the model call
_MAX_TEMPERATURE = 1.0  # the Messages API refuses more
_PROBE: list[dict] = [{"role": "user", "content": "Say OK."}]


class AnthropicChatModel:
    """One Claude model behind Anthropic's API (or a gateway that serves it), named by a role's config."""

    def __init__(self, role: str, cfg: RoleConfig):
        self.role = role
        self.cfg = cfg
        self._key = read_key(role, cfg)
        self._client = anthropic.AsyncAnthropic(
            api_key=self._key, base_url=self.root, max_retries=0, timeout=cfg.timeout_s,
            http_client=anthropic.DefaultAioHttpClient(timeout=cfg.timeout_s),
        )

    @classmethod
    def from_role(cls, role: str, cfg: RoleConfig, threads: int) -> AnthropicChatModel:
        return cls(role, cfg)

    @property
    def name(self) -> str:
        return self.cfg.model

    @property
    def where(self) -> str | None:
        return self.cfg.url()

    @property
    def root(self) -> str:
        """The API root the SDK adds `/v1/messages` to: base_url without a trailing /v1, which
        users of the OpenAI-compatible backends are used to writing."""
        return (self.cfg.url() or "").rstrip("/").removesuffix("/v1")

    def request_body(self, messages: list[Message], decoding: Decoding, sample: int = 0) -> dict:
        """The Messages request, as sent online and as the `params` of a batch's request."""
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        body: dict = {
            "model": self.cfg.model,
            "max_tokens": decoding.max_tokens,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"],
            "temperature": decoding.temperature,
        }
        if decoding.top_p < 1.0:  # recent models refuse temperature and top_p together; 1.0 is the default anyway
            body["top_p"] = decoding.top_p
        if system:
            body["system"] = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
        if decoding.json_schema is not None:
            body["tools"] = [{"name": _TOOL, "description": "Give your reply in these fields.",
                              "input_schema": json.loads(decoding.json_schema)}]
            body["tool_choice"] = {"type": "tool", "name": _TOOL}
        return body

    async def complete(self, messages: list[Message], decoding: Decoding, sample: int = 0) -> Completion:
        try:
            # the SDK's documented route for a plain JSON request and reply: `create` would walk
            # the request through its typed transform and build a typed model of the reply
            reply = await self._client.post("/v1/messages", body=self.request_body(messages, decoding, sample), cast_to=object)
        except anthropic.APIError as e:
            raise self._classify(e) from None
        except json.JSONDecodeError:
            raise CallError("malformed reply: not JSON", retryable=True) from None
        return self.read_reply(reply, messages)

    def read_reply(self, reply: object, messages: list[Message]) -> Completion:
        """The answer in a Messages reply, or a retryable error if there is none."""
        content = reply.get("content") if isinstance(reply, dict) else None
        if not isinstance(content, list):
            raise CallError("malformed reply: no content", retryable=True)
        reason = reply.get("stop_reason")
        if reason == "refusal":
            raise CallError("the model declined to answer (stop_reason refusal)", retryable=False)
        tool = next((b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"), None)
        texts = [b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)]
        if tool is not None:
            text = json.dumps(tool.get("input"), ensure_ascii=False)
        elif texts:
            text = "".join(texts)
        else:
            raise CallError("malformed reply: the answer has no text", retryable=True)
        usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        counts = [usage.get(k) or 0 for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
        done = usage.get("output_tokens")
        if not all(isinstance(n, int) for n in counts) or not isinstance(done, int):  # a gateway that reports none
            counts, done = [sum(estimate_tokens(m["content"]) for m in messages), 0, 0], estimate_tokens(text)
        plain, written, read = counts
        finish = "length" if reason in ("max_tokens", "model_context_window_exceeded") else "stop"
        return Completion(text, finish, Usage(plain + written + read, done, cache_read_tokens=read, cache_write_tokens=written))

    # --- the Message Batches API (a role in mode: batch) -----------------------------------------

    def batch_line(self, key: str, body: dict) -> bytes:
        return json.dumps({"custom_id": key, "params": body}, ensure_ascii=False).encode("utf-8")

    async def open_batch(self, name: str, lines: list[bytes]) -> str:
        """A batch carries its requests itself: its input is an id of our own, nothing is sent."""
        return f"lion-{uuid.uuid4().hex}"

    async def create_batch(self, input_id: str, lines: list[bytes], metadata: dict[str, str]) -> BatchState:
        body = b'{"requests": [' + b", ".join(lines) + b"]}"
        return _state(await self._api(self._client.post("/v1/messages/batches", content=body, cast_to=object,
                                                        options={"headers": {"content-type": "application/json"}})))

    async def retrieve_batch(self, batch_id: str) -> BatchState:
        return _state(await self._api(self._client.get(f"/v1/messages/batches/{batch_id}", cast_to=object)))

    async def cancel_batch(self, batch_id: str) -> BatchState:
        return _state(await self._api(self._client.post(f"/v1/messages/batches/{batch_id}/cancel", cast_to=object)))

    async def list_batches(self) -> list[BatchState]:
        try:
            return [_state(b.model_dump(mode="json")) async for b in self._client.messages.batches.list(limit=100)]
        except anthropic.APIError as e:
            raise self._classify(e) from None

    async def batch_results(self, batch: BatchState) -> list[tuple[str | None, Completion | CallError]]:
        try:
            return [self.read_result(r.model_dump(mode="json")) async for r in await self._client.messages.batches.results(batch.id)]
        except anthropic.APIError as e:
            error = self._classify(e)
            raise CallError(f"results of {batch.id}: {error.reason}", retryable=error.retryable) from None

    def read_result(self, item: dict) -> tuple[str | None, Completion | CallError]:
        """One line of a batch's results: the request it names and its outcome.

        `errored` is sent again when the error is the server's (overloaded, an API error) and
        failed at once when the request itself was refused; `canceled` and `expired` requests
        were never run, and are sent again.
        """
        key, result = item.get("custom_id"), item.get("result") or {}
        if not isinstance(key, str):
            return None, CallError("a result without a custom_id", retryable=True)
        kind = result.get("type")
        if kind == "succeeded":
            try:
                return key, self.read_reply(result.get("message"), [])
            except CallError as bad:
                return key, bad
        if kind in ("canceled", "expired"):
            return key, CallError(f"the batch request was {kind} before it ran", retryable=True)
        error = (result.get("error") or {}).get("error") or {}
        what, why = error.get("type", "unknown_error"), self.redact(server_message(error))
        if what in ("authentication_error", "permission_error", "not_found_error"):
            return key, CallError(f"{self.role}: the batch refused the request ({what}): {why}", retryable=False, fatal=True)
        return key, CallError(f"{what}: {why}", retryable=what not in ("invalid_request_error", "request_too_large"))

    async def _api(self, request: Awaitable[T]) -> T:
        try:
            return await request
        except anthropic.APIError as e:
            raise self._classify(e) from None

    # --- failures ------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        return redact(text, self._key)

    def _classify(self, e: anthropic.APIError) -> CallError:
        if isinstance(e, anthropic.APIStatusError):
            return call_error(e, self.role, self.cfg, self._key, status=e.status_code, body=e.body, headers=e.response.headers)
        return call_error(e, self.role, self.cfg, self._key, timed_out=isinstance(e, anthropic.APITimeoutError),
                          connection=isinstance(e, anthropic.APIConnectionError))

    # --- the check before a run ----------------------------------------------------------------

    async def check(self) -> None:
        """Fail fast, before any stage: the decoding is one the API takes, the endpoint answers and
        accepts the key, serves the model, and, for a role in mode: batch, serves Message Batches.

        The model is looked up in the models API (free; it knows aliases too). A gateway that
        serves no models API is asked for one token of the model instead, so a misspelt model
        stops here, not after the run folder is made.
        """
        if self.cfg.decoding.temperature > _MAX_TEMPERATURE:
            raise LionError(f"{self.role}.decoding.temperature: {self.cfg.decoding.temperature:g} is more than Anthropic's "
                            f"API takes (0 to {_MAX_TEMPERATURE:g}).")
        listed = await self._model_known()
        if not listed:
            await self._probe()
        if self.cfg.mode == "batch":
            await self._serves_batches()

    async def _model_known(self) -> bool:
        """Whether the models API names the model; False where it cannot tell (no models API)."""
        try:
            await self._client.models.retrieve(self.cfg.model)
            return True
        except anthropic.APIStatusError as e:
            if e.status_code in (401, 403):
                raise self._classify(e).as_lion() from None
            return False
        except anthropic.APIConnectionError as e:
            raise LionError(self._unreachable(e)) from None

    async def _probe(self) -> None:
        """Ask for one token of the model; any refusal but a busy server fails the check."""
        body = {"model": self.cfg.model, "max_tokens": 1, "messages": _PROBE}
        try:
            await self._client.post("/v1/messages", body=body, cast_to=object)
        except anthropic.APIStatusError as e:
            if e.status_code in (429, 529):  # busy, but there and willing: the dispatcher paces the real calls
                return
            error = self._classify(e)
            text = error.reason.rstrip(".") if error.fatal else (
                f"{self.role}: {self.where} answered a one-token test request for '{self.cfg.model}' with HTTP "
                f"{e.status_code}: {self.redact(server_message(e.body)).rstrip('.')}")
            listed = await self._listed()
            raise LionError(text + (f" (it serves: {shown(listed)})." if listed else ".")) from None
        except anthropic.APIConnectionError as e:
            raise LionError(self._unreachable(e)) from None
        except json.JSONDecodeError:
            raise LionError(f"{self.role}: {self.where} answered a test request with something that is not JSON; base_url "
                            "should be the root of a server of Anthropic's API.") from None

    async def _listed(self) -> list[str]:
        try:
            return [m.id async for m in self._client.models.list(limit=100)]
        except anthropic.APIError:
            return []

    async def _serves_batches(self) -> None:
        """A role in mode: batch needs the Message Batches API: one page of the batch list."""
        try:
            await self._client.get("/v1/messages/batches", options={"params": {"limit": 1}}, cast_to=object)
        except anthropic.APIStatusError as e:
            raise LionError(
                f"{self.role}: {self.where} does not serve the Message Batches API (GET /v1/messages/batches answered "
                f"HTTP {e.status_code}: {self.redact(server_message(e.body))}); set {self.role}.mode: online for this endpoint."
            ) from None
        except anthropic.APIConnectionError as e:
            raise LionError(self._unreachable(e)) from None

    def _unreachable(self, e: anthropic.APIConnectionError) -> str:
        timed_out = isinstance(e, anthropic.APITimeoutError)
        return unreachable(e, self.role, self.cfg, f"no answer within {self.cfg.timeout_s:g} s" if timed_out else None)

    async def aclose(self) -> None:
        await self._client.close()


def _state(batch: dict) -> BatchState:
    """A Message Batch as the ledger follows it: "in_progress" and "canceling" run on; an ended
    batch is "cancelled" when a cancel was asked, "expired" when requests expired, else "completed"."""
    counts = batch.get("request_counts") or {}
    status = batch.get("processing_status")
    if status == "ended":
        status = "cancelled" if batch.get("cancel_initiated_at") else "expired" if counts.get("expired") else "completed"
    elif status == "canceling":
        status = "cancelling"
    created = batch.get("created_at")
    when = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp() if isinstance(created, str) else 0.0
    return BatchState(batch["id"], status or "in_progress", counts.get("succeeded", 0), counts.get("errored", 0),
                      None, when, sum(v for v in counts.values() if isinstance(v, int)))
