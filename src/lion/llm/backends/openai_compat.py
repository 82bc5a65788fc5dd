"""Any OpenAI-compatible endpoint as a ChatModel: OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp, TGI.

The official SDK's async client does the HTTP; its own retries are switched off so that one
place, the dispatcher, decides about every retry, back-off and budget. This module's job is
to translate: a request into the SDK's call, and every way a call can fail into a `CallError`
that says whether trying again can help. The API key is read from the environment, held only
by the client, and scrubbed from every message we pass on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import TypeVar

import openai

from lion.core.chat import (
    BatchState,
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
from lion.llm.backends.remote import (
    call_error,
    connect_failure,
    read_key,
    redact,
    retryable_status,
    server_message,
    shown,
    unreachable,
)

T = TypeVar("T")

_LIST_TIMEOUT_S = 20.0  # the model list is cheap for any server; the test completion is not
_SAY_AFTER_S = 2.0  # a test completion slower than this is announced, so a loading model does not look like a hang
_PROBE: list[Message] = [{"role": "user", "content": "Say OK."}]


class OpenAIChatModel:
    """One model behind one OpenAI-compatible endpoint, named by a role's config."""

    def __init__(self, role: str, cfg: RoleConfig):
        self.role = role
        self.cfg = cfg
        self._key = read_key(role, cfg)
        self._client = self._connect(
            api_key=self._key or "no-key", max_retries=0, timeout=cfg.timeout_s,
            http_client=openai.DefaultAioHttpClient(timeout=cfg.timeout_s),
        )

    @classmethod
    def from_role(cls, role: str, cfg: RoleConfig, threads: int) -> OpenAIChatModel:
        return cls(role, cfg)

    def _connect(self, **common) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.cfg.base_url, **common)

    @property
    def name(self) -> str:
        return self.cfg.model

    @property
    def where(self) -> str | None:
        return self.cfg.url()

    def redact(self, text: str) -> str:
        """`text` with the API key (and anything shaped like one) blanked out."""
        return redact(text, self._key)

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

    def batch_line(self, key: str, body: dict) -> bytes:
        return (json.dumps({"custom_id": key, "method": "POST", "url": "/v1/chat/completions", "body": body},
                           ensure_ascii=False) + "\n").encode("utf-8")

    async def open_batch(self, name: str, lines: list[bytes]) -> str:
        """The requests uploaded as a batch file: its file id is the batch's input."""
        return (await self._api(self._client.files.create(file=(name, b"".join(lines)), purpose="batch"))).id

    async def create_batch(self, input_id: str, lines: list[bytes], metadata: dict[str, str]) -> BatchState:
        batch = await self._api(self._client.batches.create(
            input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h", metadata=metadata))
        return _state(batch.model_dump())

    async def retrieve_batch(self, batch_id: str) -> BatchState:
        return _state((await self._api(self._client.batches.retrieve(batch_id))).model_dump())

    async def cancel_batch(self, batch_id: str) -> BatchState:
        return _state((await self._api(self._client.batches.cancel(batch_id))).model_dump())

    async def list_batches(self) -> list[BatchState]:
        try:
            return [_state(b.model_dump()) async for b in self._client.batches.list(limit=100)]
        except openai.APIError as e:
            raise self._classify(e) from None

    async def batch_results(self, batch: BatchState) -> list[tuple[str | None, Completion | CallError]]:
        """The lines of the batch's output and error files, each read as the request it answers.

        A batch that failed validation sent none of its requests: that stops the run, naming
        the first line at fault, since sending the same lines again would fail the same way.
        """
        full = (await self._api(self._client.batches.retrieve(batch.id))).model_dump()
        if full["status"] == "failed" and full.get("errors"):
            first = (full["errors"].get("data") or [{}])[0]
            raise LionError(f"{self.role}: batch {batch.id} failed validation: {first.get('message', 'no reason given')} "
                            f"(line {first.get('line')}); its requests were not sent")
        out = []
        for file_id in (full.get("output_file_id"), full.get("error_file_id")):
            if file_id:
                try:
                    data = (await self._client.files.content(file_id)).content
                except openai.APIError as e:
                    error = self._classify(e)
                    raise CallError(f"file {file_id}: {error.reason}", retryable=error.retryable) from None
                out += [self.read_batch_line(line) for line in data.decode("utf-8", "replace").splitlines()]
        return out

    def read_batch_line(self, line: str) -> tuple[str | None, Completion | CallError]:
        """The request a line of a batch's output names and its outcome; None for a line that
        names none (the request it was meant for is then unanswered, and sent again)."""
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
            try:
                return key, self.read_reply(body, [])
            except CallError as bad:
                return key, bad
        reason = server_message(body)
        if status in (401, 403, 404):
            return key, CallError(f"{self.role}: the batch refused the request (HTTP {status}): {reason}",
                                  retryable=False, fatal=True)
        retryable = not isinstance(status, int) or retryable_status(status)
        return key, CallError(f"HTTP {status}: {reason}", retryable=retryable)

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
        if isinstance(e, openai.APIStatusError):
            return call_error(e, self.role, self.cfg, self._key, status=e.status_code, body=e.body, headers=e.response.headers)
        return call_error(e, self.role, self.cfg, self._key, timed_out=isinstance(e, openai.APITimeoutError),
                          connection=isinstance(e, openai.APIConnectionError))

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
                f"{self.redact(server_message(e.body))}); set {self.role}.mode: online for this endpoint."
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
        return unreachable(e, self.role, self.cfg, timed_out if isinstance(e, openai.APITimeoutError) else None)

    async def _probe(self, listed: list[str] | None) -> None:
        """Ask for one token of the model, saying what is awaited when the answer is slow."""
        wait = self.cfg.timeout_s
        client = self._client.with_options(timeout=wait, max_retries=0)
        body = {"model": self.cfg.model, "messages": _PROBE, "max_tokens": 1}
        asked = asyncio.ensure_future(client.post("/chat/completions", body=body, cast_to=dict))
        try:
            done, _ = await asyncio.wait({asked}, timeout=min(_SAY_AFTER_S, wait))
            if not done:
                unlisted = (f", which is not among the models it lists as loaded ({shown(listed)}), so it may be "
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
                    f"HTTP {e.status_code}: {self.redact(server_message(e.body)).rstrip('.')}")
        return text + (f" (it lists: {shown(listed)})." if listed else ".")

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


def _state(batch: dict) -> BatchState:
    """An OpenAI batch object as the ledger follows it."""
    counts = batch.get("request_counts") or {}
    return BatchState(batch["id"], batch["status"], counts.get("completed", 0) or 0, counts.get("failed", 0) or 0,
                      batch.get("input_file_id"), float(batch.get("created_at") or 0), counts.get("total", 0) or 0)
