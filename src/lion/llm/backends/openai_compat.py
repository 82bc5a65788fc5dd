"""Any OpenAI-compatible endpoint as a ChatModel: OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp, TGI.

The official SDK's async client does the HTTP; its own retries are switched off so that one
place, the dispatcher, decides about every retry, back-off and budget. This module's job is
to translate: a request into the SDK's call, and every way a call can fail into a `CallError`
that says whether trying again can help. The API key is read from the environment, held only
by the client, and scrubbed from every message we pass on.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time

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

_STATUS_RETRYABLE = {408, 409, 429}
_KEYLIKE = re.compile(r"\b(sk|key|token)-[A-Za-z0-9_\-*]{6,}")


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

    async def complete(self, messages: list[Message], decoding: Decoding, sample: int = 0) -> Completion:
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
        try:
            # `post` is the SDK's documented route for a plain JSON request and reply: `create`
            # would walk the messages through its typed transform and build a typed model of the
            # reply, half of the client's CPU per call; we read the few fields we need ourselves
            reply = await self._client.post("/chat/completions", body=args, cast_to=dict)
        except openai.APIError as e:
            raise self._classify(e) from None
        except json.JSONDecodeError:
            raise CallError("malformed reply: not JSON", retryable=True) from None
        return self._completion(reply, messages)

    def _completion(self, reply: object, messages: list[Message]) -> Completion:
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

        The model list is asked first (free). Azure lists base models rather than deployments,
        and some servers list nothing, so there a one-token completion is the probe instead.
        """
        client = self._client.with_options(timeout=min(self.cfg.timeout_s, 20.0), max_retries=1)
        try:
            served = await self._served(client)
            if self.cfg.model in served:
                return
            if served:
                shown = ", ".join(sorted(served)[:8]) + (" ..." if len(served) > 8 else "")
                raise LionError(f"{self.role}: {self.where} does not serve model '{self.cfg.model}' (it serves: {shown}).")
            await client.chat.completions.create(
                model=self.cfg.model, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1
            )
        except openai.APIConnectionError:
            raise LionError(f"{self.role}: cannot reach {self.where}; is the server up and base_url right?") from None
        except openai.APIStatusError as e:
            error = self._classify(e)
            if error.fatal:  # a refused key or an unknown model; other answers show the server is there
                raise error.as_lion() from None

    async def _served(self, client: openai.AsyncOpenAI) -> list[str]:
        """The models the endpoint lists; none where it lists none or will not say."""
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

    async def _served(self, client: openai.AsyncOpenAI) -> list[str]:
        """None: Azure lists its base models, not the deployments a role names."""
        return []


def _server_message(e: openai.APIStatusError) -> str:
    """The server's own explanation: OpenAI puts it in body.error.message, others in body.message."""
    body = e.body
    if isinstance(body, dict):
        inner = body.get("error")
        msg = inner.get("message") if isinstance(inner, dict) else body.get("message")
        if msg:
            return str(msg)[:300]
    return (e.message or "")[:300]
