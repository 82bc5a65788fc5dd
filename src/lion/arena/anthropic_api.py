"""The served arena speaking Anthropic's API: Messages, Models and Message Batches, as the official SDK expects.

The same chat models answer as on the OpenAI routes, through the same fault draw and answer
log (`lion.arena.serving`), so a `backend: anthropic` client can be tested offline against
an endpoint that answers, bills, fails and rate-limits the way Anthropic's does.

A request is mapped onto the arena as the OpenAI side maps one: the system prompt becomes a
first `system` message, and text blocks are joined with newlines. Forcing a tool
(`tool_choice: {"type": "tool", "name": N}`, or `"any"`, which forces the first tool) is
structured output: the tool's `input_schema` reaches the arena as `Decoding.json_schema`,
serialized with sorted keys exactly as the OpenAI side serializes `response_format`'s schema,
so both APIs give the same verdict. The reply is then a `tool_use` block whose `input` is the
arena's JSON object. When the arena's reply is malformed on purpose, the input is what a real
model under a tool without strict decoding still yields, always an object (`tool_input`): the
members that were whole (an object in a markdown fence is whole; one cut off part way keeps
the members before the cut, never a cut number), or `{}` for a reply with no object at all,
such as a refusal. A verdict parser then reads the scores where they survived and rejects
the reply where they did not. Without a forced tool the reply is text, cut at the first of
`stop_sequences` it holds.

Anthropic's API takes no seed, and a real model samples anew on every call, so the arena's
`sample` for a request is the number of times the same request (model, system and messages,
decoding) has already been answered by this server, online or in a batch: 0 the first time,
1 the next. A request whose answer never arrived (a fault) was not answered, so its retry
draws the sample the lost answer had; two copies in flight at once draw the same sample.

Usage bills the prompt in the arena's tokens (words), tools included (each tool's definition
as JSON), with prompt caching simulated by `lion.arena.prompt_cache` (markers on blocks, or
the request's own `cache_control`, which marks its last block); `chat_template` is for
open models and leaves this bill alone. Every route needs the `anthropic-version` header and,
when the server has a key, that key (in `x-api-key`, or as a bearer token); errors take Anthropic's shape, with a `request-id`
header on every reply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from lion.arena.batches import BatchError, BatchStore
from lion.arena.message_batches import MessageBatchStore, error_body, page_of, rfc3339
from lion.arena.prompt_cache import Block, PromptCache
from lion.arena.serving import (
    JSON_TYPE,
    Delivered,
    FaultKind,
    Hang,
    Loose,
    ServedArena,
    Truncated,
    first_problem,
    not_json,
)
from lion.core.chat import Completion, Decoding, Message

VERSION_HEADER = "anthropic-version"
_MAX_MARKERS = 4  # cache_control breakpoints one request may set, as Anthropic allows
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                529: "overloaded_error"}


def speaks_anthropic(request: Request) -> bool:
    """Whether the client speaks Anthropic's API: its SDK sends the version header with every request."""
    return VERSION_HEADER in request.headers


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error in Anthropic's shape, its type the one Anthropic gives that status."""
    kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return Response(json.dumps(error_body(kind, message)), status, headers, JSON_TYPE)


def _json(data: Any) -> Response:
    return Response(json.dumps(data), media_type=JSON_TYPE)


def _words(text: str) -> int:
    """Tokens as the arena counts them: words."""
    return len(text.split())


# --- the request, as Anthropic's Messages API defines it -----------------------------------------


class _CacheControl(Loose):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] = "5m"


class _TextBlock(Loose):
    type: Literal["text"]
    text: str
    cache_control: _CacheControl | None = None


def _text(content: str | list[_TextBlock]) -> str:
    """Text blocks joined by newlines, as the OpenAI side flattens its parts."""
    return content if isinstance(content, str) else "\n".join(b.text for b in content)


def _blocks(where: list[Any], content: str | list[_TextBlock]) -> list[Block]:
    """The prompt blocks of a system prompt or a message; `where` places them in the prompt."""
    if isinstance(content, str):
        return [Block(json.dumps([*where, content]), _words(content))]
    return [Block(json.dumps([*where, b.text]), _words(b.text), b.cache_control and b.cache_control.ttl)
            for b in content]


class _Message(Loose):
    role: Literal["user", "assistant"]
    content: str | list[_TextBlock] = Field(min_length=1)


class _Tool(Loose):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str = ""
    input_schema: dict[str, Any]
    cache_control: _CacheControl | None = None

    def block(self) -> Block:
        """The tool as the prompt holds it: its definition as JSON, counted in words like any text."""
        definition = json.dumps({"name": self.name, "description": self.description,
                                 "input_schema": self.input_schema}, sort_keys=True)
        return Block(json.dumps(["tool", definition]), _words(definition), self.cache_control and self.cache_control.ttl)


class _ToolChoice(Loose):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None


class _MessagesRequest(Loose):
    model: str
    max_tokens: int = Field(ge=1)
    messages: list[_Message] = Field(min_length=1)
    system: str | list[_TextBlock] | None = None
    temperature: float = Field(1.0, ge=0, le=1)
    top_p: float = Field(1.0, ge=0, le=1)
    stop_sequences: list[str] = Field(default_factory=list)
    tools: list[_Tool] = Field(default_factory=list)
    tool_choice: _ToolChoice | None = None
    cache_control: _CacheControl | None = None  # a marker on the prompt's last block, when it has none of its own
    stream: bool = False

    def problem(self, structured: bool) -> str | None:
        """What the API refuses in a request that is well-formed field by field, or None."""
        choice, names = self.tool_choice, [t.name for t in self.tools]
        if len(set(names)) < len(names):
            return "tools: each tool's name must be unique."
        if any(not s.strip() for s in self.stop_sequences):
            return "stop_sequences: each stop sequence must hold more than whitespace."
        if choice is not None and choice.type in ("tool", "any"):
            if not self.tools:
                return f"tool_choice: type '{choice.type}' needs tools to choose from."
            if choice.type == "tool" and choice.name is None:
                return "tool_choice.name: Field required when type is 'tool'."
            if choice.type == "tool" and choice.name not in names:
                return f"tool_choice.name: no tool named {choice.name!r} among the tools."
            if not structured:
                return "tool_choice: forcing a tool is not supported by this server."
        markers = sum(b.marker is not None for b in self.blocks())
        if markers > _MAX_MARKERS:
            return f"A maximum of {_MAX_MARKERS} blocks with cache_control may be provided. Found {markers}."
        return None

    def forced(self) -> _Tool | None:
        """The tool the reply must call: the one named, or the first for `any`; None for a text reply."""
        choice = self.tool_choice
        if choice is None or choice.type not in ("tool", "any"):
            return None
        return next(t for t in self.tools if choice.type == "any" or t.name == choice.name)

    def plain(self) -> list[Message]:
        """The messages as the arena reads them: the system prompt first, each content's blocks joined."""
        system: list[Message] = [] if self.system is None else [{"role": "system", "content": _text(self.system)}]
        return system + [{"role": m.role, "content": _text(m.content)} for m in self.messages]

    def decoding(self) -> Decoding:
        tool = self.forced()
        schema = json.dumps(tool.input_schema, sort_keys=True) if tool else None
        return Decoding(self.temperature, self.top_p, self.max_tokens, json_schema=schema)

    def blocks(self) -> list[Block]:
        """The prompt in Anthropic's order, for the cache: tools, then the system prompt, then the messages."""
        system = [] if self.system is None else _blocks(["system"], self.system)
        said = [b for n, m in enumerate(self.messages) for b in _blocks([m.role, n], m.content)]
        blocks = [t.block() for t in self.tools] + system + said
        if self.cache_control is not None and blocks[-1].marker is None:
            blocks[-1] = dataclasses.replace(blocks[-1], marker=self.cache_control.ttl)
        return blocks


class _BatchItem(Loose):
    custom_id: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    params: dict[str, Any]


class _BatchCreate(Loose):
    requests: list[_BatchItem] = Field(min_length=1)


# --- replies -------------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```(?:json)?[ \t]*\n(.*?)\n?[ \t]*```\s*$", re.DOTALL)
_SPACE = re.compile(r"\s*")


def tool_input(text: str) -> dict[str, Any]:
    """The arena's JSON reply as a tool's input: always an object (see the module docstring)."""
    fenced = _FENCE.match(text)
    body = fenced[1] if fenced else text
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return _whole_members(body)
    return value if isinstance(value, dict) else {}


def _whole_members(text: str) -> dict[str, Any]:
    """The members of a cut-off object that are certainly whole: those a comma follows.

    The last member before a cut is left out even when it parses, since "1" may be the start of 10.
    """
    decoder, found = json.JSONDecoder(), {}
    pos = _SPACE.match(text).end()
    if not text.startswith("{", pos):
        return {}
    pos += 1
    while True:
        try:
            key, pos = decoder.raw_decode(text, _SPACE.match(text, pos).end())
            pos = _SPACE.match(text, pos).end()
            if not isinstance(key, str) or not text.startswith(":", pos):
                return found
            value, pos = decoder.raw_decode(text, _SPACE.match(text, pos + 1).end())
        except json.JSONDecodeError:
            return found
        pos = _SPACE.match(text, pos).end()
        if not text.startswith(",", pos):
            return found
        found[key] = value
        pos += 1


def _stopped(text: str, stops: list[str]) -> tuple[str, str | None]:
    """The text up to the first stop sequence in it (the shorter one where two start together), and that sequence."""
    hits = [(text.index(s), len(s), s) for s in stops if s in text]
    if not hits:
        return text, None
    at, _, stop = min(hits)
    return text[:at], stop


def _content(req: _MessagesRequest, done: Completion) -> tuple[list[dict[str, Any]], str, str | None, int]:
    """The reply's content blocks, stop_reason, stop_sequence and output tokens."""
    cut = done.finish_reason == "length"
    tool = req.forced()
    if tool is not None:
        use = {"type": "tool_use", "id": f"toolu_{secrets.token_hex(12)}", "name": tool.name,
               "input": tool_input(done.text)}
        return [use], "max_tokens" if cut else "tool_use", None, done.usage.completion_tokens
    text, stop = _stopped(done.text, req.stop_sequences)
    if stop is not None:
        return [{"type": "text", "text": text}], "stop_sequence", stop, _words(text)
    return [{"type": "text", "text": text}], "max_tokens" if cut else "end_turn", None, done.usage.completion_tokens


# --- the API -------------------------------------------------------------------------------------


class AnthropicAPI:
    """Anthropic's routes on one served arena: its prompt cache, and its Message Batches on the shared store."""

    def __init__(self, arena: ServedArena, store: BatchStore) -> None:
        self.arena, self.store = arena, store
        self.cache = PromptCache(arena.options.cache_min_tokens, arena.options.cache_ttl_s)
        self.batches = MessageBatchStore(store, self._answer_params)

    def stats(self) -> dict[str, int]:
        return self.cache.stats()

    def routes(self) -> list[Route]:
        def route(path: str, method: str, handle: Callable[[Request], Awaitable[ASGIApp]]) -> Route:
            async def endpoint(request: Request) -> ASGIApp:
                return await self._guarded(request, handle)
            return Route(path, endpoint, methods=[method])

        async def messages(request: Request) -> ASGIApp:
            self.arena.requests += 1
            return await self._guarded(request, self._messages)

        return [
            Route("/v1/messages", messages, methods=["POST"]),
            route("/v1/messages/batches", "POST", self._create_batch),
            route("/v1/messages/batches", "GET", self._list_batches),
            route("/v1/messages/batches/{id}", "GET", self._one_batch),
            route("/v1/messages/batches/{id}/cancel", "POST", self._cancel_batch),
            route("/v1/messages/batches/{id}/results", "GET", self._results),
        ]

    async def models(self, request: Request) -> ASGIApp:
        return await self._guarded(request, self._models)

    async def one_model(self, request: Request) -> ASGIApp:
        return await self._guarded(request, self._one_model)

    # --- what every route does ---------------------------------------------------------------

    async def _guarded(self, request: Request, handle: Callable[[Request], Awaitable[ASGIApp]]) -> ASGIApp:
        """The key and version checked, the handler's refusals in Anthropic's shape, a request id on every reply."""
        try:
            reply = self._refused(request) or await handle(request)
        except BatchError as e:
            reply = error(e.status, e.message)
        if isinstance(reply, Response):
            reply.headers["request-id"] = f"req_{secrets.token_hex(12)}"
        return reply

    def _refused(self, request: Request) -> Response | None:
        """A 401 unless the request carries the key, then a 400 without a version.

        The key is taken from `x-api-key`, or else from a bearer token, which is how this SDK's
        version sends it; either is compared in constant time.
        """
        key = self.arena.key
        bearer = request.headers.get("authorization", "")
        sent = request.headers.get("x-api-key", bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else "")
        if key is not None and not hmac.compare_digest(sent.encode("utf-8"), key):
            # echoed whole, as careless servers and proxies do, so clients are tested on redacting it
            return error(401, f"invalid x-api-key: {sent or '(none)'}.")
        if not speaks_anthropic(request):
            return error(400, f"{VERSION_HEADER}: header is required.")
        return None

    # --- messages ------------------------------------------------------------------------------

    async def _messages(self, request: Request) -> ASGIApp:
        req = self._validated(await request.body())
        if isinstance(req, Response):
            return req
        fault = self.arena.draw_fault()
        if fault == "hang":
            return Hang(self.arena.options.hang_s)
        if self.arena.options.latency_s:
            await asyncio.sleep(self.arena.options.latency_s)
        if fault is not None and fault != "truncated":
            return self._fault_reply(fault)
        body, record = await self._answer(req)
        if fault == "truncated":
            return Truncated(body)
        return Delivered(body, record)

    def _validated(self, raw: bytes) -> _MessagesRequest | Response:
        """The validated request, or the 400/404 Anthropic would send instead."""
        try:
            req = _MessagesRequest.model_validate_json(raw)
        except ValidationError as e:
            return error(400, "The request body is not valid JSON." if not_json(e) else first_problem(e)[1])
        if req.stream:
            return error(400, "stream: streaming is not supported by the arena server.")
        problem = req.problem(self.arena.options.structured)
        if problem is not None:
            return error(400, problem)
        if req.model not in self.arena.models:
            return error(404, f"model: {req.model!r} is not served here; the arena serves {', '.join(self.arena.models)}.")
        return req

    def _fault_reply(self, kind: FaultKind) -> Response:
        wait = {"retry-after": f"{self.arena.options.retry_after_s:g}"}
        if kind == "429":
            return error(429, "Rate limit reached; retry later.", wait)
        if kind == "529":
            return error(529, "The arena is overloaded; retry later.", wait)
        if kind == "500":
            return error(500, "The arena failed on purpose.")
        if self.arena.malformed_cut():
            return Response('{"type": "message", "id": "msg_', media_type=JSON_TYPE)
        return _json({"type": "message", "content": []})

    async def _answer(self, req: _MessagesRequest) -> tuple[bytes, Callable[[], None]]:
        """The message's body, and what to call once it has been delivered."""
        messages, decoding = req.plain(), req.decoding()
        sample = self.arena.times_answered(req.model, messages, decoding, None)
        done = await self.arena.models[req.model].complete(messages, decoding, sample=sample)
        bill = self.cache.bill(req.model, req.blocks())
        content, stop_reason, stop_sequence, output_tokens = _content(req, done)
        body = {
            "id": f"msg_{secrets.token_hex(12)}", "type": "message", "role": "assistant", "model": req.model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": stop_sequence,
            "usage": {"input_tokens": bill.input_tokens, "output_tokens": output_tokens,
                      "cache_creation_input_tokens": bill.cache_creation_input_tokens,
                      "cache_read_input_tokens": bill.cache_read_input_tokens},
        }
        return json.dumps(body).encode("utf-8"), self.arena.recorder(req.model, messages, decoding, None)

    async def _answer_params(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A batch request's params answered as the same request online is: the status and the body."""
        req = self._validated(json.dumps(params).encode("utf-8"))
        if isinstance(req, Response):
            return req.status_code, json.loads(req.body)
        body, record = await self._answer(req)
        record()  # a batch delivers its answers in its results
        return 200, json.loads(body)

    # --- models --------------------------------------------------------------------------------

    @staticmethod
    def _model(name: str) -> dict[str, Any]:
        # created at the Unix epoch, as the OpenAI side's `created: 0` says
        return {"type": "model", "id": name, "display_name": name.replace("-", " ").title(), "created_at": rfc3339(0)}

    async def _models(self, request: Request) -> Response:
        limit, after_id, before_id = _paging(request)
        page, more = page_of(list(self.arena.models), limit, after_id, before_id)
        return _listing([self._model(m) for m in page], more)

    async def _one_model(self, request: Request) -> Response:
        name = request.path_params["id"]
        if name not in self.arena.models:
            return error(404, f"model: {name!r} is not served here.")
        return _json(self._model(name))

    # --- message batches -----------------------------------------------------------------------

    async def _create_batch(self, request: Request) -> Response:
        raw, options = await request.body(), self.store.options
        if len(raw) > options.anthropic_max_bytes:
            return error(413, f"The request is {len(raw)} bytes; a Message Batch may hold at most "
                         f"{options.anthropic_max_bytes} bytes.")
        try:
            create = _BatchCreate.model_validate_json(raw)
        except ValidationError as e:
            return error(400, "The request body is not valid JSON." if not_json(e) else first_problem(e)[1])
        seen: set[str] = set()
        for n, item in enumerate(create.requests):
            if item.custom_id in seen:
                return error(400, f"requests.{n}.custom_id: {item.custom_id!r} is used by an earlier request; "
                             "each must be unique.")
            seen.add(item.custom_id)
        if len(create.requests) > options.anthropic_max_requests:
            return error(400, f"requests: {len(create.requests)} requests; a Message Batch may hold at most "
                         f"{options.anthropic_max_requests}.")
        batch = self.batches.create([(item.custom_id, item.params) for item in create.requests])
        return _json(self.batches.describe(batch, _root(request)))

    async def _list_batches(self, request: Request) -> Response:
        limit, after_id, before_id = _paging(request)
        page, more = await self.batches.listing(limit, after_id, before_id)
        return _listing([self.batches.describe(b, _root(request)) for b in page], more)

    async def _one_batch(self, request: Request) -> Response:
        batch = await self.batches.retrieve(request.path_params["id"])
        return _json(self.batches.describe(batch, _root(request)))

    async def _cancel_batch(self, request: Request) -> Response:
        batch = await self.batches.cancel(request.path_params["id"])
        return _json(self.batches.describe(batch, _root(request)))

    async def _results(self, request: Request) -> Response:
        return Response(await self.batches.results(request.path_params["id"]), media_type="application/x-jsonl")


def _root(request: Request) -> str:
    """This server's address as the client reached it, for URLs it is sent back to."""
    return str(request.base_url).rstrip("/")


def _paging(request: Request) -> tuple[int, str | None, str | None]:
    """A list request's `limit` (1 to 1000, 20 by default) and its cursor; BatchError names a bad one."""
    query = request.query_params
    try:
        limit = int(query.get("limit", 20))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise BatchError(400, f"limit: {query.get('limit')!r} is not a whole number from 1 to 1000.")
    if "after_id" in query and "before_id" in query:
        raise BatchError(400, "after_id and before_id cannot be given together.")
    return limit, query.get("after_id"), query.get("before_id")


def _listing(data: list[dict[str, Any]], more: bool) -> Response:
    return _json({"data": data, "has_more": more, "first_id": data[0]["id"] if data else None,
                  "last_id": data[-1]["id"] if data else None})
