"""The arena behind an honest HTTP endpoint speaking OpenAI's API and Anthropic's, with faults on demand.

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

The same server speaks Anthropic's API on the same port (`lion.arena.anthropic_api`):
`POST /v1/messages` with prompt caching, `/v1/messages/batches`, and `GET /v1/models` in
Anthropic's shape to a client that sends the `anthropic-version` header. Both APIs share the
chat models, the fault draw (with `529`, overloaded, drawn only when named), the answer log
behind `/stats`, and the batches' options and clock (`lion.arena.serving`, `lion.arena.batches`).

Per-request work is kept small (no logging, one chat model per arena name, bodies built once)
because load tests run dozens of clients against it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any, Literal

import uvicorn
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from lion.arena import anthropic_api
from lion.arena.batches import BatchError, BatchStore
from lion.arena.serving import (
    CUT_MESSAGE,
    JSON_TYPE,
    Delivered,
    FaultKind,
    Hang,
    Loose,
    ServedArena,
    ServeOptions,
    Truncated,
    first_problem,
    not_json,
)
from lion.core.chat import Decoding, Message
from lion.core.errors import LionError

# --- the request, as the OpenAI API defines it -------------------------------------------------


class _TextPart(Loose):
    type: Literal["text"]
    text: str


class _ChatMessage(Loose):
    role: Literal["system", "user", "assistant"]
    content: str | list[_TextPart]

    def plain(self) -> Message:
        """Text parts are joined by newlines, the way OpenAI-compatible servers flatten them."""
        text = self.content if isinstance(self.content, str) else "\n".join(p.text for p in self.content)
        return {"role": self.role, "content": text}


class _JsonSchema(Loose):
    name: str = Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str = ""
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool = False


class _ResponseFormat(Loose):
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


class _ChatRequest(Loose):
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
    return Response(json.dumps(body), status, headers, JSON_TYPE)


def _invalid(error: ValidationError) -> Response:
    param, message = first_problem(error)
    return _error(400, message, param=param)


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


def _refused(arena: ServedArena, request: Request) -> Response | None:
    """A 401 unless the request carries the key as a bearer token; compared in constant time, never logged here."""
    if arena.key is None:
        return None
    sent = request.headers.get("authorization", "").encode("utf-8")
    if hmac.compare_digest(sent, b"Bearer " + arena.key):
        return None
    # echoed whole, as careless servers and proxies do, so clients are tested on redacting it
    shown = sent.decode("utf-8", "replace").removeprefix("Bearer ") or "(none)"
    return _error(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")


def _fault_reply(arena: ServedArena, kind: FaultKind) -> Response:
    wait = {"retry-after": f"{arena.options.retry_after_s:g}"}
    if kind == "429":
        return _error(429, "Rate limit reached; retry later.", "rate_limit_error", code="rate_limit_exceeded",
                      headers=wait)
    if kind == "529":
        return _error(529, "The arena is overloaded; retry later.", "server_error", code="overloaded", headers=wait)
    if kind == "500":
        return _error(500, "The arena failed on purpose.", "server_error")
    if arena.malformed_cut():
        return Response('{"id": "chatcmpl-', media_type=JSON_TYPE)
    return Response(json.dumps({"object": "chat.completion", "choices": []}), media_type=JSON_TYPE)


# --- routes ------------------------------------------------------------------------------------


async def _parse(arena: ServedArena, request: Request) -> _ChatRequest | Response:
    return _validated(arena, await request.body())


def _validated(arena: ServedArena, raw: bytes) -> _ChatRequest | Response:
    """The validated request, or the 400/404 a real endpoint would send instead."""
    try:
        chat = _ChatRequest.model_validate_json(raw)
    except ValidationError as e:
        if not_json(e):
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


async def _complete(arena: ServedArena, request: Request) -> ASGIApp:
    arena.requests += 1
    refusal = _refused(arena, request)
    if refusal is not None:
        return refusal
    chat = await _parse(arena, request)
    if isinstance(chat, Response):
        return chat
    fault = arena.draw_fault()
    if fault == "hang":
        return Hang(arena.options.hang_s)
    if arena.options.latency_s:
        await asyncio.sleep(arena.options.latency_s)
    if fault is not None and fault != "truncated":
        return _fault_reply(arena, fault)
    body, record = await _answer(arena, chat)
    if fault == "truncated":
        return Truncated(body)
    return Delivered(body, record)


async def _answer(arena: ServedArena, chat: _ChatRequest) -> tuple[bytes, Callable[[], None]]:
    """The completion's body, and what to call once it has been delivered."""
    messages, decoding = [m.plain() for m in chat.messages], chat.decoding()
    done = await arena.models[chat.model].complete(messages, decoding, sample=chat.seed)
    billed = done.usage.prompt_tokens + (template_tokens(messages) if arena.options.chat_template else 0)
    body = _completion_body(chat.model, done.text, done.finish_reason, billed, done.usage.completion_tokens)
    return body, arena.recorder(chat.model, messages, decoding, chat.seed)


async def _answer_in_batch(arena: ServedArena, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A batch line's request answered as the same request online is: the status and the body."""
    chat = _validated(arena, json.dumps(body).encode("utf-8"))
    if isinstance(chat, Response):
        return chat.status_code, json.loads(chat.body)
    reply, record = await _answer(arena, chat)
    record()  # a batch delivers its answers in its output file
    return 200, json.loads(reply)


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "lion-arena"}


def _models(arena: ServedArena, request: Request) -> Response:
    refusal = _refused(arena, request)
    if refusal is not None:
        return refusal
    return _json({"object": "list", "data": [_model(m) for m in arena.models]})


def _one_model(arena: ServedArena, request: Request) -> Response:
    refusal, name = _refused(arena, request), request.path_params["id"]
    if refusal is not None:
        return refusal
    if name not in arena.models:
        return _error(404, f"The model {name!r} does not exist.", param="model", code="model_not_found")
    return _json(_model(name))


# --- files and batches (lion.arena.batches keeps them) -----------------------------------------


async def _upload(store: BatchStore, request: Request) -> Response:
    form = await request.form()
    upload, purpose = form.get("file"), form.get("purpose")
    if upload is None or isinstance(upload, str):
        return _error(400, "Missing the file to upload.", param="file")
    if purpose != "batch":
        return _error(400, "The arena takes files for purpose 'batch' only.", param="purpose")
    stored = store.add_file(upload.filename or "upload.jsonl", purpose, await upload.read())
    return _json(stored.describe())


async def _create_batch(store: BatchStore, request: Request) -> Response:
    try:
        body = json.loads(await request.body())
    except json.JSONDecodeError:
        return _error(400, "The request body is not valid JSON.")
    missing = next((k for k in ("input_file_id", "endpoint", "completion_window") if not isinstance(body.get(k), str)), None)
    if missing:
        return _error(400, f"Missing required parameter: '{missing}'.", param=missing)
    return _json(store.create(body["input_file_id"], body["endpoint"], body["completion_window"], body.get("metadata")))


def _batch_routes(arena: ServedArena, store: BatchStore) -> list[Route]:
    """`/v1/files` and `/v1/batches` as OpenAI serves them; every route needs the key when one is set."""

    def route(path: str, method: str, handle: Callable[[Request], Any]) -> Route:
        async def endpoint(request: Request) -> Response:
            refusal = _refused(arena, request)
            if refusal is not None:
                return refusal
            try:
                return await handle(request)
            except BatchError as e:
                return _error(e.status, e.message, param=e.param)
        return Route(path, endpoint, methods=[method])

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
        route("/v1/files", "POST", lambda r: _upload(store, r)),
        route("/v1/files", "GET", list_files),
        route("/v1/files/{id}", "GET", one_file),
        route("/v1/files/{id}", "DELETE", delete_file),
        route("/v1/files/{id}/content", "GET", file_content),
        route("/v1/batches", "POST", lambda r: _create_batch(store, r)),
        route("/v1/batches", "GET", list_batches),
        route("/v1/batches/{id}", "GET", one_batch),
        route("/v1/batches/{id}/cancel", "POST", cancel),
    ]


def _json(data: Any) -> Response:
    return Response(json.dumps(data), media_type=JSON_TYPE)


async def _not_found(request: Request, exc: HTTPException) -> Response:
    """Unknown paths and methods answer in the error shape of the API the client speaks, not in plain text."""
    message = f"{request.method} {request.url.path}: {exc.detail}."
    if anthropic_api.speaks_anthropic(request):
        return anthropic_api.error(exc.status_code, message)
    return _error(exc.status_code, message)


def build_app(options: ServeOptions) -> Starlette:
    """The served arena as an ASGI app, speaking OpenAI's API and Anthropic's on the same routes' root.

    `/v1` routes need the key when one is set, `/stats` not. `GET /v1/models` (and
    `/v1/models/{id}`) answers in Anthropic's shape when the request carries the
    `anthropic-version` header every Anthropic client sends, and in OpenAI's otherwise.
    """
    arena = ServedArena(options)
    store = BatchStore(options.batch, lambda body: _answer_in_batch(arena, body), options.seed)
    claude = anthropic_api.AnthropicAPI(arena, store)

    async def complete(request: Request) -> ASGIApp:
        return await _complete(arena, request)

    async def models(request: Request) -> ASGIApp:
        if anthropic_api.speaks_anthropic(request):
            return await claude.models(request)
        return _models(arena, request)

    async def one_model(request: Request) -> ASGIApp:
        if anthropic_api.speaks_anthropic(request):
            return await claude.one_model(request)
        return _one_model(arena, request)

    async def stats(request: Request) -> Response:
        return _json({**arena.stats(), **store.stats(), **claude.stats()})

    routes = [
        Route("/v1/chat/completions", complete, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/models/{id}", one_model, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        *_batch_routes(arena, store),
        *claude.routes(),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _not_found})
    app.state.batches = store  # its clock and options are what a test sets to move batches of both APIs on
    app.state.prompt_cache = claude.cache  # its clock is what a test sets to let cached prefixes expire
    return app


# --- serving -----------------------------------------------------------------------------------


class _QuietCuts(logging.Filter):
    """Drops uvicorn's complaint about the responses we cut short on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != CUT_MESSAGE


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
