"""Any OpenAI-compatible endpoint as a ChatModel: OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp, TGI.

The official SDK's async client does the HTTP; its own retries are switched off so that one
place, the dispatcher, decides about every retry, back-off and budget. This module's job is
to translate: a request into the SDK's call, and every way a call can fail into a `CallError`
that says whether trying again can help. The API key is read from the environment, held only
by the client, and scrubbed from every message we pass on.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import json
import os
import re
import socket
import time
from collections.abc import Awaitable
from typing import TypeVar

import openai

from lion.core.chat import (
    CallError,
    Completion,
    Decoding,
    Message,
    Usage,
    estimate_tokens,
)
from lion.core.config import RoleConfig
from lion.core.errors import LionError
from lion.core.progress import console

T = TypeVar("T")

_STATUS_RETRYABLE = {408, 409, 429}
_KEYLIKE = re.compile(r"\b(sk|key|token)-[A-Za-z0-9_\-*]{6,}")
_LIST_TIMEOUT_S = 20.0  # the model list is cheap for any server; the test completion is not
_SAY_AFTER_S = 2.0  # a test completion slower than this is announced, so a loading model does not look like a hang
_PROBE: list[Message] = [{"role": "user", "content": "Say OK."}]
_CONNECT_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
}


def connect_failure(error: BaseException | None) -> str | None:
    """Why no connection could be made, read from the error's chain of causes; None when the
    failure came after connecting (or is not a network failure at all).

    The error's own type cannot tell: the aiohttp transport reports a refused connection as a
    *timeout* whose cause is the connect error, after a few milliseconds, so only the chain
    says whether anybody was listening.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, socket.gaierror):
            return f"the host name could not be resolved ({error.strerror or error})"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, OSError) and error.errno in _CONNECT_ERRNOS:
            return _CONNECT_ERRNOS[error.errno]
        error = error.__cause__ or error.__context__
    return None


def retry_after_seconds(headers) -> float | None:
    """The server's requested wait: `retry-after-ms`, `retry-after` in seconds, or an HTTP date."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if name == "retry-after" else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    return None


class OpenAIChatModel:
    """One model behind one OpenAI-compatible endpoint, named by a role's config."""

    def __init__(self, role: str, cfg: RoleConfig):
        self.role = role
        self.cfg = cfg
        self._key = self._read_key()
        self._client = self._connect(
            api_key=self._key or "no-key", max_retries=0, timeout=cfg.timeout_s,
            http_client=openai.DefaultAioHttpClient(timeout=cfg.timeout_s),
        )

    @classmethod
    def from_role(cls, role: str, cfg: RoleConfig, threads: int) -> OpenAIChatModel:
        return cls(role, cfg)

    def _connect(self, **common) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.cfg.base_url, **common)

    def _read_key(self) -> str | None:
        var = self.cfg.api_key_env
        if var is None:
            return None
        key = os.environ.get(var, "")
        if not key.strip():
            raise LionError(f"{self.role}.api_key_env: the environment variable {var} is not set; export the API key there.")
        return key.strip()

    @property
    def name(self) -> str:
        return self.cfg.model

    @property
    def where(self) -> str | None:
        return self.cfg.url()

    def redact(self, text: str) -> str:
        """`text` with the API key (and anything shaped like one) blanked out."""
        if self._key:
            text = text.replace(self._key, "***")
        return _KEYLIKE.sub(lambda m: m.group(1) + "-***", text)

    def request_body(self, messages: list[Message], decoding: Decoding, sample: int = 0) -> dict:
        """The chat.completions request, as sent online and as one line of a batch."""
        args: dict = {
            "model": self.cfg.model,
            "messages": messages,
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
            "max_tokens": decoding.max_tokens,
        }
        if self.cfg.send_seed:
            args["seed"] = sample
        if decoding.json_schema is not None:
            schema = {"name": "reply", "schema": json.loads(decoding.json_schema), "strict": True}
            args["response_format"] = {"type": "json_schema", "json_schema": schema}
        return args

    async def complete(self, messages: list[Message], decoding: Decoding, sample: int = 0) -> Completion:
        try:
            # `post` is the SDK's documented route for a plain JSON request and reply: `create`
            # would walk the messages through its typed transform and build a typed model of the
            # reply, half of the client's CPU per call; we read the few fields we need ourselves
            reply = await self._client.post("/chat/completions", body=self.request_body(messages, decoding, sample),
                                            cast_to=dict)
        except openai.APIError as e:
            raise self._classify(e) from None
        except json.JSONDecodeError:
            raise CallError("malformed reply: not JSON", retryable=True) from None
        return self.read_reply(reply, messages)

    # --- the Files and Batches API (a role in mode: batch) -------------------------------------

    async def upload_batch_file(self, name: str, data: bytes) -> str:
        return (await self._api(self._client.files.create(file=(name, data), purpose="batch"))).id

    async def create_batch(self, file_id: str, metadata: dict[str, str]) -> dict:
        batch = await self._api(self._client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h", metadata=metadata))
        return batch.model_dump()

    async def retrieve_batch(self, batch_id: str) -> dict:
        return (await self._api(self._client.batches.retrieve(batch_id))).model_dump()

    async def cancel_batch(self, batch_id: str) -> dict:
        return (await self._api(self._client.batches.cancel(batch_id))).model_dump()

    async def list_batches(self) -> list[dict]:
        """Every batch the key can see, newest first."""
        try:
            return [b.model_dump() async for b in self._client.batches.list(limit=100)]
        except openai.APIError as e:
            raise self._classify(e) from None

    async def file_bytes(self, file_id: str) -> bytes:
        return (await self._api(self._client.files.content(file_id))).content

    async def _api(self, request: Awaitable[T]) -> T:
        try:
            return await request
        except openai.APIError as e:
            raise self._classify(e) from None

    def read_reply(self, reply: object, messages: list[Message]) -> Completion:
        """The answer in an OpenAI chat.completion body, or a retryable error if there is none."""
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise CallError("malformed reply: no choices", retryable=True)
        message = choices[0].get("message")
        text = message.get("content") if isinstance(message, dict) else None
        if text is None and isinstance(message, dict) and isinstance(message.get("refusal"), str):
            text = message["refusal"]  # a structured-output refusal: its text is the answer, unreadable as scores
        reason = choices[0].get("finish_reason")
        if reason == "content_filter":
            raise CallError("the provider's content filter withheld the answer", retryable=False)
        if not isinstance(text, str):
            raise CallError("malformed reply: the answer has no text", retryable=True)
        usage = reply.get("usage")
        prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        done = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if not isinstance(prompt, int) or not isinstance(done, int):  # some servers report none
            prompt = sum(estimate_tokens(m["content"]) for m in messages)
            done = estimate_tokens(text)
        return Completion(text, "length" if reason == "length" else "stop", Usage(prompt, done))

    def _classify(self, e: openai.APIError) -> CallError:
        where = f"{self.where} ({self.cfg.model})"
        why = connect_failure(e)
        if why is not None:  # before the time-out test: a refused connection can arrive dressed as one
            return CallError(f"cannot connect to {self.where}: {why}", retryable=True)
        if isinstance(e, openai.APITimeoutError):
            return CallError(f"timed out after {self.cfg.timeout_s:g} s", retryable=True)
        if isinstance(e, openai.APIConnectionError):
            cause = e.__cause__ or e.__context__
            detail = f": {type(cause).__name__}" if cause is not None else ""
            return CallError(f"connection failed{detail}", retryable=True)
        if isinstance(e, openai.APIStatusError):
            status = e.status_code
            message = self.redact(_server_message(e))
            if status in (401, 403):
                var = self.cfg.api_key_env or "(no api_key_env set)"
                return CallError(
                    f"{self.role}: {where} refused the API key from {var} (HTTP {status}): {message}",
                    retryable=False, fatal=True,
                )
            if status == 404:
                return CallError(
                    f"{self.role}: {where} answered 404 (unknown model or wrong base_url): {message}",
                    retryable=False, fatal=True,
                )
            if status in _STATUS_RETRYABLE or status >= 500:
                return CallError(
                    f"HTTP {status}: {message}", retryable=True, retry_after=retry_after_seconds(e.response.headers)
                )
            return CallError(f"HTTP {status}: {message}", retryable=False)
        return CallError(self.redact(f"{type(e).__name__}: {e}"), retryable=True)

    async def check(self) -> None:
        """Fail fast, before any stage: the endpoint answers, accepts the key, and serves the model.

        The model list is asked first (free). A model it names is taken as served. One it does
        not name may still be: servers that load models on demand (`transformers serve`) list
        only those loaded, Azure lists base models rather than deployments, and some servers
        list nothing. So the model is then asked for one token, with the role's own time limit,
        since its first answer may wait for it to load; any refusal but a rate limit fails the
        check with the server's reason, so a misspelt model stops here, not after the run
        folder is made and requests are spent.
        """
        if self.cfg.mode == "batch":
            await self._serves_batches()
        listed = await self._listed()
        if listed is not None and self.cfg.model in listed:
            return
        await self._probe(listed)

    async def _serves_batches(self) -> None:
        """A role in mode: batch needs the endpoint's Batches API: one page of its batch list."""
        try:
            await self._client.batches.list(limit=1)
        except openai.APIStatusError as e:
            if e.status_code in (401, 403):
                return  # the model check below says what is wrong with the key
            raise LionError(
                f"{self.role}: {self.where} does not serve the Batches API (GET /batches answered HTTP {e.status_code}: "
                f"{self.redact(_server_message(e))}); set {self.role}.mode: online for this endpoint."
            ) from None
        except openai.APIError:
            return  # unreachable: the model check below says so

    async def _listed(self) -> list[str] | None:
        """The models the server lists; [] where it answers without a list, None where it is not asked."""
        wait = min(self.cfg.timeout_s, _LIST_TIMEOUT_S)
        try:
            return await self._served(self._client.with_options(timeout=wait, max_retries=0))
        except openai.APIStatusError as e:  # only a refused key comes through `_served`
            raise self._classify(e).as_lion() from None
        except openai.APIConnectionError as e:
            raise LionError(self._unreachable(e, f"no answer to GET /models within {wait:g} s")) from None

    def _unreachable(self, e: openai.APIConnectionError, timed_out: str) -> str:
        why = connect_failure(e)
        if why is None:
            cause = e.__cause__ or e.__context__
            why = timed_out if isinstance(e, openai.APITimeoutError) else f"the connection failed ({type(cause or e).__name__})"
        return f"{self.role}: cannot reach {self.where}: {why}; is the server up and base_url right?"

    async def _probe(self, listed: list[str] | None) -> None:
        """Ask for one token of the model, saying what is awaited when the answer is slow."""
        wait = self.cfg.timeout_s
        client = self._client.with_options(timeout=wait, max_retries=0)
        body = {"model": self.cfg.model, "messages": _PROBE, "max_tokens": 1}
        asked = asyncio.ensure_future(client.post("/chat/completions", body=body, cast_to=dict))
        try:
            done, _ = await asyncio.wait({asked}, timeout=min(_SAY_AFTER_S, wait))
            if not done:
                unlisted = (f", which is not among the models it lists as loaded ({_shown(listed)}), so it may be "
                            "loading it") if listed else ""
                console.print(f"{self.role}: waiting up to {wait:g} s ({self.role}.timeout_s) for {self.where} to answer "
                              f"a one-token test request for '{self.cfg.model}'{unlisted}.", highlight=False, markup=False,
                              soft_wrap=True)
            reply = await asked
        except openai.APIStatusError as e:
            if e.status_code == 429:  # busy, but there and willing: the dispatcher paces the real calls
                return
            raise LionError(self._refusal(e, listed)) from None
        except openai.APIConnectionError as e:
            if not isinstance(e, openai.APITimeoutError) or connect_failure(e) is not None:
                raise LionError(self._unreachable(e, f"no answer within {wait:g} s")) from None
            answered = "answered GET /models but " if listed is not None else ""
            raise LionError(
                f"{self.role}: {self.where} {answered}the model '{self.cfg.model}' did not answer a one-token request "
                f"within {wait:g} s ({self.role}.timeout_s); if the server is still loading it, run again when it is "
                f"loaded or raise {self.role}.timeout_s."
            ) from None
        except (json.JSONDecodeError, openai.APIResponseValidationError):
            reply = None
        finally:
            asked.cancel()
        if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list):
            raise LionError(
                f"{self.role}: {self.where} answered a test request for '{self.cfg.model}' with something that is not "
                "a chat completion; base_url should be the API root (it often ends in /v1)."
            )

    def _refusal(self, e: openai.APIStatusError, listed: list[str] | None) -> str:
        """The probe's refusal in one sentence, with the server's reason and what it lists."""
        error = self._classify(e)
        if error.fatal:  # a refused key or an unknown model: the message already says what to fix
            text = error.reason.rstrip(".")
        else:
            text = (f"{self.role}: {self.where} answered a one-token test request for '{self.cfg.model}' with "
                    f"HTTP {e.status_code}: {self.redact(_server_message(e)).rstrip('.')}")
        return text + (f" (it lists: {_shown(listed)})." if listed else ".")

    async def _served(self, client: openai.AsyncOpenAI) -> list[str] | None:
        """The models the endpoint lists; [] where it answers with no list (an error other than a
        refused key, which is raised)."""
        try:
            return [m.id async for m in client.models.list()]
        except openai.APIStatusError as e:
            if e.status_code in (401, 403):
                raise
            return []

    async def aclose(self) -> None:
        await self._client.close()


class AzureChatModel(OpenAIChatModel):
    """A deployment on Azure OpenAI: the same API behind a resource endpoint and an API version."""

    def _connect(self, **common) -> openai.AsyncOpenAI:
        if not self.cfg.base_url or not self.cfg.api_version:
            raise LionError(f"{self.role}: an azure role needs base_url (the resource endpoint) and api_version.")
        return openai.AsyncAzureOpenAI(azure_endpoint=self.cfg.base_url, api_version=self.cfg.api_version, **common)

    async def _served(self, client: openai.AsyncOpenAI) -> list[str] | None:
        """Not asked: Azure lists its base models, not the deployments a role names."""
        return None


def _shown(models: list[str] | None) -> str:
    models = sorted(models or [])
    return ", ".join(models[:8]) + (" ..." if len(models) > 8 else "")


def _server_message(e: openai.APIStatusError) -> str:
    """The server's own reason for an error answer, whatever its shape, in at most 300 characters.

    The SDK's own text is only "Error code: 400", which tells a user nothing. OpenAI puts the
    reason in `error.message` (the SDK hands us the inner object), others in `message` or in
    `error` as a string, FastAPI servers (`transformers serve`) in `detail`: a string, or a list
    of {loc, msg} validation errors; some answer plain text. Keys are blanked by the caller.
    """
    reason = _reason(e.body)
    text = " ".join(reason.split()) if reason else ""
    return text[:300] or "the server gave no reason"


def _reason(body: object) -> str | None:
    if isinstance(body, str):
        return body.strip() or None
    if isinstance(body, list):  # FastAPI's validation errors
        found = [_validation_error(item) for item in body]
        return "; ".join(f for f in found if f) or None
    if not isinstance(body, dict):
        return None
    for key in ("message", "error", "detail"):
        found = _reason(body.get(key))
        if found:
            return found
    return None


def _validation_error(item: object) -> str | None:
    if not isinstance(item, dict):
        return _reason(item)
    msg = item.get("msg") or item.get("message")
    if not isinstance(msg, str):
        return None
    loc = item.get("loc")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list) else ""
    return f"{where}: {msg}" if where else msg
