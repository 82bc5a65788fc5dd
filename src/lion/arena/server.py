"""The arena behind an honest OpenAI-compatible HTTP endpoint, with faults on demand.

The in-process arena skips everything between the loop and a real provider: sockets, JSON,
status codes, the SDK's error classes, time-outs, retries and the cache's behaviour when a
call fails half way. Served over HTTP, the arena lets the `openai` backend run the whole Lion
loop offline against an endpoint that answers like a real one, and misbehaves like one when
asked: rate limits with Retry-After, server errors, requests that never return, bodies cut
short and replies that are not completions. The fault draw is seeded, and `/stats` counts
what was answered, so a test can prove that every item was answered exactly once however
many faults it went through.

Each completion request is authenticated, then validated, then drawn for a fault, then
delayed by `latency_s` (a hung request waits `hang_s` instead), so faults cost a round trip
as they do on a real endpoint. Structured output is asked for as OpenAI asks for it,
`response_format: {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}`; the
schema reaches the arena as `Decoding.json_schema`, serialized with sorted keys as the
in-process clients serialize it, so both paths give the same reply. `json_object` is refused
with a 400, so that clients fall back to a schema or to text.

With `chat_template` on, `usage.prompt_tokens` bills the prompt as a server running an open
chat model does (`transformers serve`, vLLM): the messages laid out in a ChatML template, with
its markers and a default system message, not the messages' words alone. The answers stay
exactly what the in-process arena gives; only the bill grows, so that a client which
estimates prompts from their text alone undercounts here as it would there.

Per-request work is kept small (no logging, one chat model per arena name, bodies built once)
because load tests run dozens of clients against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any, Literal, get_args

import uvicorn
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from lion.arena.batches import BatchError, BatchOptions, BatchStore
from lion.arena.chat import MODELS, ArenaChatModel
from lion.core.chat import Decoding, Message
from lion.core.config import ArenaOptions, Strict
from lion.core.errors import LionError

FaultKind = Literal["429", "500", "hang", "truncated", "malformed"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

_JSON = "application/json"
_CUT_MESSAGE = "ASGI callable returned without completing response."


class ServeOptions(Strict):
    """How the served arena behaves: its delay, its faults, its key and its roles' options."""

    latency_s: float = Field(0.0, ge=0, description="seconds added to every completion reply")
    fault_rate: float = Field(0.0, ge=0, le=1, description="share of completion requests that fail")
    fault_kinds: list[FaultKind] = Field(
        default_factory=lambda: list(FAULT_KINDS), min_length=1, description="drawn uniformly"
    )
    retry_after_s: float = Field(1.0, ge=0, description="the Retry-After sent with a 429")
    hang_s: float = Field(600.0, ge=0, description="how long a hung request is held, then dropped")
    seed: int = Field(0, description="seeds the fault draw")
    structured: bool = Field(
        True, description="serve response_format json_schema; off, refuse it as servers without it do"
    )
    api_key_env: str | None = Field(
        None, description="the environment variable holding the key clients must send"
    )
    chat_template: bool = Field(
        False, description="bill prompts with a chat template's tokens, as servers of open models do"
    )
    batch: BatchOptions = Field(default_factory=BatchOptions, description="how /v1/batches behaves")
    arena: dict[str, ArenaOptions] = Field(
        default_factory=dict, description="per arena model; models not named get the defaults"
    )

    @field_validator("arena")
    @classmethod
    def _known_models(cls, arena: dict[str, ArenaOptions]) -> dict[str, ArenaOptions]:
        unknown = sorted(set(arena) - set(MODELS))
        if unknown:
            raise ValueError(f"unknown arena model {unknown[0]!r}; choose from {', '.join(MODELS)}")
        return arena


# --- the request, as the OpenAI API defines it -------------------------------------------------


class _Loose(BaseModel):
    """Fields we do not use are ignored, as OpenAI-compatible servers do; null means default."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class _TextPart(_Loose):
    type: Literal["text"]
    text: str


class _ChatMessage(_Loose):
    role: Literal["system", "user", "assistant"]
    content: str | list[_TextPart]

    def plain(self) -> Message:
        """Text parts are joined by newlines, the way OpenAI-compatible servers flatten them."""
        text = self.content if isinstance(self.content, str) else "\n".join(p.text for p in self.content)
        return {"role": self.role, "content": text}


class _JsonSchema(_Loose):
    name: str = Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str = ""
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool = False


class _ResponseFormat(_Loose):
    """OpenAI's `response_format`; only `text` and `json_schema` are served (see `_parse`)."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JsonSchema | None = Field(None, validate_default=True)

    @field_validator("json_schema")
    @classmethod
    def _given_for_its_type(cls, value: _JsonSchema | None, info: ValidationInfo) -> _JsonSchema | None:
        if value is None and info.data.get("type") == "json_schema":
            raise PydanticCustomError("missing", "Field required when type is 'json_schema'")
        return value

    def schema_text(self) -> str | None:
        """The schema as JSON text with sorted keys, as the in-process clients serialize it."""
        if self.type != "json_schema" or self.json_schema is None:
            return None
        return json.dumps(self.json_schema.schema_, sort_keys=True)


class _ChatRequest(_Loose):
    model: str
    messages: list[_ChatMessage] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    seed: int = 0
    n: int = 1
    stream: bool = False
    response_format: _ResponseFormat | None = None

    def decoding(self) -> Decoding:
        limit = self.max_completion_tokens or self.max_tokens or 512
        schema = self.response_format.schema_text() if self.response_format else None
        return Decoding(self.temperature, self.top_p, limit, json_schema=schema)


# --- replies -----------------------------------------------------------------------------------

# What `chat_template` adds to a prompt's words, laid out as ChatML (Qwen's template among
# others): "<|im_start|>{role}\n{content}<|im_end|>\n" for every message, a default system
# message when the request sends none, and "<|im_start|>assistant\n" before the answer.
_DEFAULT_SYSTEM = "You are a helpful assistant."
_PER_MESSAGE = 5  # <|im_start|>, the role, a newline, <|im_end|>, a newline
_BEFORE_ANSWER = 3  # <|im_start|>, assistant, a newline


def template_tokens(messages: list[Message]) -> int:
    """The tokens the chat template adds to a request's words, in the arena's tokens (words)."""
    added = _PER_MESSAGE * len(messages) + _BEFORE_ANSWER
    if not any(m["role"] == "system" for m in messages):
        added += _PER_MESSAGE + len(_DEFAULT_SYSTEM.split())
    return added



def _error(
    status: int, message: str, kind: str = "invalid_request_error", *,
    param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None,
) -> Response:
    """An error in OpenAI's shape, which the SDK turns into its matching exception class."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return Response(json.dumps(body), status, headers, _JSON)


def _invalid(error: ValidationError) -> Response:
    first = error.errors(include_url=False, include_input=False)[0]
    param = ".".join(str(p) for p in first["loc"]) or None
    return _error(400, f"{param or 'body'}: {first['msg']}", param=param)


def _completion_body(model: str, text: str, finish: str, prompt_tokens: int, completion_tokens: int) -> bytes:
    return json.dumps({
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }).encode("utf-8")


async def _cut(send: Send, body: bytes, keep: int) -> None:
    """Promise `body` in content-length, send its first `keep` bytes, then let the server close.

    Returning with the response unfinished is how an ASGI app makes the server drop the
    connection; the client then sees a body that ended early, as after a crashed proxy.
    """
    headers = [(b"content-type", _JSON.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body[:keep], "more_body": True})


async def _disconnect(receive: Receive) -> None:
    """Returns when the client has gone; the request body must have been read already."""
    while (await receive())["type"] != "http.disconnect":
        pass


class _Hang:
    """Holds the request unanswered until the client gives up or `hang_s` passes, then drops it.

    A server shutting down cancels it; that ends the wait the same way, without a traceback.
    """

    def __init__(self, hang_s: float) -> None:
        self.hang_s = hang_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(_disconnect(receive), self.hang_s)
        await _cut(send, b"{}", 0)


class _Truncated:
    """The full completion's length announced, half of its bytes sent."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _cut(send, self.body, len(self.body) // 2)


class _Answer(Response):
    """A completion that is counted as answered once its last byte has been handed over."""

    def __init__(self, body: bytes, on_sent: Callable[[], None]) -> None:
        super().__init__(body, media_type=_JSON)
        self.on_sent = on_sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)
        self.on_sent()


# --- the server's state ------------------------------------------------------------------------


class _Arena:
    """Chat models, the fault draw and the counters of one served arena."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.key = _read_key(options.api_key_env)
        self.models = {m: ArenaChatModel(m, options.arena.get(m, ArenaOptions())) for m in MODELS}
        self.rng = random.Random(options.seed)
        self.requests = 0
        self.faults = dict.fromkeys(FAULT_KINDS, 0)
        self.answers: dict[bytes, tuple[int, float]] = {}  # request -> (times answered, first answer's time)
        self.answered = 0
        self.answered_twice = 0
        self.first_of_repeats: list[float] = []  # when each request answered again was first answered
        self.batches = BatchStore(options.batch, lambda body: _answer_in_batch(self, body), options.seed)
        self.model_list = json.dumps({
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "lion-arena"} for m in MODELS],
        }).encode("utf-8")

    def refused(self, request: Request) -> Response | None:
        """A 401 unless the request carries the key; compared in constant time, never logged here."""
        if self.key is None:
            return None
        sent = request.headers.get("authorization", "").encode("utf-8")
        if hmac.compare_digest(sent, b"Bearer " + self.key):
            return None
        # echoed whole, as careless servers and proxies do, so clients are tested on redacting it
        shown = sent.decode("utf-8", "replace").removeprefix("Bearer ") or "(none)"
        return _error(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")

    def draw_fault(self) -> FaultKind | None:
        if self.options.fault_rate <= 0 or self.rng.random() >= self.options.fault_rate:
            return None
        kind = self.rng.choice(self.options.fault_kinds)
        self.faults[kind] += 1
        return kind

    def fault_reply(self, kind: FaultKind) -> Response:
        if kind == "429":
            wait = f"{self.options.retry_after_s:g}"
            return _error(429, "Rate limit reached; retry later.", "rate_limit_error",
                          code="rate_limit_exceeded", headers={"retry-after": wait})
        if kind == "500":
            return _error(500, "The arena failed on purpose.", "server_error")
        if self.rng.random() < 0.5:
            return Response('{"id": "chatcmpl-', media_type=_JSON)
        return Response(json.dumps({"object": "chat.completion", "choices": []}), media_type=_JSON)

    def recorder(self, model: str, messages: list[Message], decoding: Decoding, seed: int) -> Callable[[], None]:
        """What to call once the answer to this request has been sent."""
        request = [
            model, messages, decoding.temperature, decoding.top_p, decoding.max_tokens, decoding.json_schema, seed
        ]
        key = hashlib.sha256(json.dumps(request).encode("utf-8")).digest()

        def record() -> None:
            self.answered += 1
            seen, first = self.answers.get(key, (0, time.time()))
            self.answers[key] = (seen + 1, first)
            if seen == 1:
                self.answered_twice += 1
                self.first_of_repeats.append(first)

        return record

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "faults": dict(self.faults),
            "answered": self.answered,
            "answered_distinct": len(self.answers),
            "answered_twice": self.answered_twice,
            # Unix times: a client that was killed lost the answers in flight, which shows as
            # repeats first answered just before the kill
            "first_of_repeats": self.first_of_repeats,
            **self.batches.stats(),
        }


def _read_key(env: str | None) -> bytes | None:
    if env is None:
        return None
    key = os.environ.get(env, "")
    if not key:
        raise LionError(f"the environment variable {env} holds no API key for the arena server.")
    return key.encode("utf-8")


# --- routes ------------------------------------------------------------------------------------


async def _parse(arena: _Arena, request: Request) -> _ChatRequest | Response:
    return _validated(arena, await request.body())


def _validated(arena: _Arena, raw: bytes) -> _ChatRequest | Response:
    """The validated request, or the 400/404 a real endpoint would send instead."""
    try:
        chat = _ChatRequest.model_validate_json(raw)
    except ValidationError as e:
        if e.errors()[0]["type"].startswith("json"):
            return _error(400, "The request body is not valid JSON.")
        return _invalid(e)
    if chat.stream:
        return _error(400, "Streaming is not supported by the arena server.", param="stream")
    if chat.n != 1:
        return _error(400, "Only n=1 is supported by the arena server.", param="n")
    if chat.response_format and chat.response_format.type != "text" and not arena.options.structured:
        return _error(
            400, "response_format is not supported by this server.", param="response_format",
        )
    if chat.response_format and chat.response_format.type == "json_object":
        return _error(
            400, "response_format type 'json_object' is not supported by the arena server; "
            "only 'json_schema' (or 'text') is.", param="response_format.type",
        )
    if chat.model not in arena.models:
        return _error(404, f"The model {chat.model!r} does not exist.", param="model", code="model_not_found")
    return chat


async def _complete(arena: _Arena, request: Request) -> ASGIApp:
    arena.requests += 1
    refusal = arena.refused(request)
    if refusal is not None:
        return refusal
    chat = await _parse(arena, request)
    if isinstance(chat, Response):
        return chat
    fault = arena.draw_fault()
    if fault == "hang":
        return _Hang(arena.options.hang_s)
    if arena.options.latency_s:
        await asyncio.sleep(arena.options.latency_s)
    if fault in ("429", "500", "malformed"):
        return arena.fault_reply(fault)
    body, record = await _answer(arena, chat)
    if fault == "truncated":
        return _Truncated(body)
    return _Answer(body, record)


async def _answer(arena: _Arena, chat: _ChatRequest) -> tuple[bytes, Callable[[], None]]:
    """The completion's body, and what to call once it has been delivered."""
    messages, decoding = [m.plain() for m in chat.messages], chat.decoding()
    done = await arena.models[chat.model].complete(messages, decoding, sample=chat.seed)
    billed = done.usage.prompt_tokens + (template_tokens(messages) if arena.options.chat_template else 0)
    body = _completion_body(chat.model, done.text, done.finish_reason, billed, done.usage.completion_tokens)
    return body, arena.recorder(chat.model, messages, decoding, chat.seed)


async def _answer_in_batch(arena: _Arena, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A batch line's request answered as the same request online is: the status and the body."""
    chat = _validated(arena, json.dumps(body).encode("utf-8"))
    if isinstance(chat, Response):
        return chat.status_code, json.loads(chat.body)
    reply, record = await _answer(arena, chat)
    record()  # a batch delivers its answers in its output file
    return 200, json.loads(reply)


async def _models(arena: _Arena, request: Request) -> Response:
    return arena.refused(request) or Response(arena.model_list, media_type=_JSON)


# --- files and batches (lion.arena.batches keeps them) -----------------------------------------


async def _upload(arena: _Arena, request: Request) -> Response:
    form = await request.form()
    upload, purpose = form.get("file"), form.get("purpose")
    if upload is None or isinstance(upload, str):
        return _error(400, "Missing the file to upload.", param="file")
    if purpose != "batch":
        return _error(400, "The arena takes files for purpose 'batch' only.", param="purpose")
    stored = arena.batches.add_file(upload.filename or "upload.jsonl", purpose, await upload.read())
    return _json(stored.describe())


async def _create_batch(arena: _Arena, request: Request) -> Response:
    try:
        body = json.loads(await request.body())
    except json.JSONDecodeError:
        return _error(400, "The request body is not valid JSON.")
    missing = next((k for k in ("input_file_id", "endpoint", "completion_window") if not isinstance(body.get(k), str)), None)
    if missing:
        return _error(400, f"Missing required parameter: '{missing}'.", param=missing)
    return _json(arena.batches.create(body["input_file_id"], body["endpoint"], body["completion_window"],
                                      body.get("metadata")))


def _batch_routes(arena: _Arena) -> list[Route]:
    """`/v1/files` and `/v1/batches` as OpenAI serves them; every route needs the key when one is set."""

    def route(path: str, method: str, handle: Callable[[Request], Any]) -> Route:
        async def endpoint(request: Request) -> Response:
            refusal = arena.refused(request)
            if refusal is not None:
                return refusal
            try:
                return await handle(request)
            except BatchError as e:
                return _error(e.status, e.message, param=e.param)
        return Route(path, endpoint, methods=[method])

    store = arena.batches

    async def file_content(r: Request) -> Response:
        return Response(store.file(r.path_params["id"]).data, media_type="application/octet-stream")

    async def list_files(r: Request) -> Response:
        data = [f.describe() for f in store.files.values()]
        return _json({"object": "list", "data": data, "has_more": False})

    async def list_batches(r: Request) -> Response:
        limit = min(max(int(r.query_params.get("limit", 20)), 1), 100)
        return _json(await store.listing(limit, r.query_params.get("after")))

    async def one_file(r: Request) -> Response:
        return _json(store.file(r.path_params["id"]).describe())

    async def delete_file(r: Request) -> Response:
        return _json(store.delete_file(r.path_params["id"]))

    async def one_batch(r: Request) -> Response:
        return _json(await store.retrieve(r.path_params["id"]))

    async def cancel(r: Request) -> Response:
        return _json(await store.cancel(r.path_params["id"]))

    return [
        route("/v1/files", "POST", lambda r: _upload(arena, r)),
        route("/v1/files", "GET", list_files),
        route("/v1/files/{id}", "GET", one_file),
        route("/v1/files/{id}", "DELETE", delete_file),
        route("/v1/files/{id}/content", "GET", file_content),
        route("/v1/batches", "POST", lambda r: _create_batch(arena, r)),
        route("/v1/batches", "GET", list_batches),
        route("/v1/batches/{id}", "GET", one_batch),
        route("/v1/batches/{id}/cancel", "POST", cancel),
    ]


def _json(data: Any) -> Response:
    return Response(json.dumps(data), media_type=_JSON)


async def _not_found(request: Request, exc: HTTPException) -> Response:
    """Unknown paths and methods answer in OpenAI's error shape too, not in plain text."""
    return _error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}.")


def build_app(options: ServeOptions) -> Starlette:
    """The served arena as an ASGI app; `/v1` routes need the key when one is set, `/stats` not."""
    arena = _Arena(options)

    async def complete(request: Request) -> ASGIApp:
        return await _complete(arena, request)

    async def models(request: Request) -> Response:
        return await _models(arena, request)

    async def stats(request: Request) -> Response:
        return Response(json.dumps(arena.stats()), media_type=_JSON)

    routes = [
        Route("/v1/chat/completions", complete, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        *_batch_routes(arena),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _not_found})
    app.state.batches = arena.batches  # its clock is what a test sets to move batches on
    return app


# --- serving -----------------------------------------------------------------------------------


class _QuietCuts(logging.Filter):
    """Drops uvicorn's complaint about the responses we cut short on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _CUT_MESSAGE


def _listen(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise LionError(f"--port {port} is not a TCP port; use 0 to 65535 (0: any free port).")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as e:
        raise LionError(f"cannot listen on {host}:{port}: {e.strerror or e}.") from None


def serve(options: ServeOptions, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until SIGINT or SIGTERM; hung requests get one second before they are cut.

    The socket is bound here, so port 0 works and the printed line names the real port.
    uvicorn picks httptools and uvloop when they are installed and falls back to h11 and
    asyncio otherwise.
    """
    app = build_app(options)
    sock = _listen(host, port)
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if sock.family == socket.AF_INET6 else bound[0]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", proxy_headers=False,
        timeout_graceful_shutdown=1,
    )
    logging.getLogger("uvicorn.error").addFilter(_QuietCuts())
    print(f"lion arena: serving http://{shown}:{bound[1]}/v1", flush=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
