"""The pre-flight check and the errors of the OpenAI-compatible backend, against a real local
server shaped like `transformers serve`: it lists only the models it has loaded, loads others
on their first request (slowly), and answers errors in FastAPI's `{"detail": ...}` shape."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from lion.core.config import RoleConfig
from lion.core.errors import LionError
from lion.llm.backends.openai_compat import OpenAIChatModel
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import Call, CallSettings, CallsFailed, Failed, Role
from lion.llm.roles import retry_policy
from local_server import check_role, free_port, serve_app
from run_cli import lion

CONFIG = Path(__file__).parents[2] / "configs" / "arena.yaml"
TYPO = "Qwen/Qwen2.5-0.5B-Instrct"
NOT_FOUND = f"{TYPO} is not a local folder and is not a valid model identifier listed on 'https://huggingface.co/models'"

# model -> (status, body) the server answers every completion for it with
REFUSALS: dict[str, tuple[int, object]] = {
    TYPO: (500, {"detail": NOT_FOUND}),  # FastAPI: a string
    "validated": (422, {"detail": [{"loc": ["body", "max_tokens"], "msg": "Input should be greater than 1", "type": "x"},
                                   {"loc": ["body", "seed"], "msg": "Input should be an integer", "type": "y"}]}),
    "openai-shaped": (400, {"error": {"message": "This model's maximum context length is 2 tokens.", "type": "invalid"}}),
    "ollama-shaped": (404, {"error": "model 'ollama-shaped' not found, try pulling it first"}),
    "plain-text": (500, "upstream worker crashed"),
    "no-reason": (500, ""),
    "busy": (429, {"error": {"message": "Rate limit reached.", "type": "rate_limit"}}),
}
REASONS = {  # what the user must see of each refusal
    TYPO: f"HTTP 500: {NOT_FOUND}",
    "validated": "HTTP 422: body.max_tokens: Input should be greater than 1; body.seed: Input should be an integer",
    "openai-shaped": "HTTP 400: This model's maximum context length is 2 tokens",
    "ollama-shaped": "answered 404 (unknown model or wrong base_url): model 'ollama-shaped' not found, try pulling it first",
    "plain-text": "HTTP 500: upstream worker crashed",
    "no-reason": "HTTP 500: the server gave no reason",
}


class LoadingServer:
    """The app's state: which models are loaded, how long a load takes, what was asked."""

    def __init__(self, load_s: float):
        self.load_s = load_s
        self.loaded = {"loaded-model"}
        self.completions: Counter[str] = Counter()

    def app(self) -> Starlette:
        async def models(request: Request) -> Response:
            return JSONResponse({"object": "list", "data": [{"id": m, "object": "model"} for m in sorted(self.loaded)]})

        async def chat(request: Request) -> Response:
            body = await request.json()
            model = body["model"]
            self.completions[model] += 1
            if model == "echo-key":  # a careless server repeats what it was sent
                return JSONResponse({"detail": f"no access with {request.headers.get('authorization')}"}, 403)
            if model in REFUSALS:
                status, reply = REFUSALS[model]
                if isinstance(reply, str):
                    return PlainTextResponse(reply, status)
                return JSONResponse(reply, status)
            if model not in self.loaded:
                await asyncio.sleep(self.load_s)
                self.loaded.add(model)
            return JSONResponse({"object": "chat.completion", "model": model, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "OK"}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1}})

        return Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])])


@contextmanager
def serving(load_s: float = 0.0) -> Iterator[tuple[str, LoadingServer]]:
    """The app on a free localhost port, in a thread of this process, until the block ends."""
    state = LoadingServer(load_s)
    with serve_app(state.app()) as url:
        yield url, state


def _check(url: str, model: str, timeout_s: float = 10.0, **fields) -> None:
    check_role("teacher", url, model, timeout_s=timeout_s, **fields)


def test_a_model_the_server_loads_on_demand_is_asked_for_and_waited_for(capsys):
    with serving(load_s=2.5) as (url, server):
        _check(url, "lazy-model", timeout_s=10)  # not listed: asked for one token, and given time to load
        assert server.completions["lazy-model"] == 1
        said = capsys.readouterr().err
        assert (f"teacher: waiting up to 10 s (teacher.timeout_s) for {url} to answer a one-token test request for "
                "'lazy-model', which is not among the models it lists as loaded (loaded-model)") in said
        _check(url, "lazy-model")  # now listed: the list is enough
        _check(url, "loaded-model")
        assert server.completions == {"lazy-model": 1}
        assert capsys.readouterr().err == ""


def test_a_model_slower_to_load_than_the_time_limit_is_a_time_out_not_an_unreachable_server():
    with serving(load_s=3.0) as (url, _):
        start = time.monotonic()
        with pytest.raises(LionError) as e:
            _check(url, "lazy-model", timeout_s=1)
        assert str(e.value).startswith(f"teacher: {url} answered GET /models but the model 'lazy-model' did not answer "
                                       "a one-token request within 1 s (teacher.timeout_s)")
        assert "cannot reach" not in str(e.value) and time.monotonic() - start < 2.5


@pytest.mark.parametrize("model", sorted(REASONS))
def test_a_refused_test_request_fails_the_check_with_the_servers_reason(model):
    with serving() as (url, server):
        with pytest.raises(LionError) as e:
            _check(url, model)
        assert REASONS[model] in str(e.value) and str(e.value).startswith("teacher: ")
        assert "(it lists: loaded-model)" in str(e.value) and "Error code" not in str(e.value)
        assert server.completions == {model: 1}  # asked once, not retried


def test_a_rate_limited_test_request_passes_the_check():
    with serving() as (url, server):
        _check(url, "busy")
        assert server.completions == {"busy": 1}


def test_the_key_a_server_echoes_in_its_detail_is_blanked(monkeypatch):
    secret = "0123456789abcdef" * 3  # of no known key shape: only knowing the key can blank it
    monkeypatch.setenv("LION_TEST_ECHO_KEY", secret)
    with serving() as (url, _), pytest.raises(LionError, match=r"refused the API key from LION_TEST_ECHO_KEY \(HTTP 403\): "
                                                            r"no access with Bearer \*\*\*") as e:
        _check(url, "echo-key", api_key_env="LION_TEST_ECHO_KEY")
    assert secret[:8] not in str(e.value)


def test_the_servers_reason_reaches_a_calls_failure(tmp_path):
    with serving() as (url, _):
        cache = ResponseCache(tmp_path / "cache.sqlite")
        loop = asyncio.new_event_loop()
        try:
            for name in ("validated", "openai-shaped", "plain-text", "ollama-shaped"):
                rc = RoleConfig(backend="openai", model=name, base_url=url, max_attempts=1)
                model = OpenAIChatModel("teacher", rc)
                role = Role("teacher", model, rc.decoding.params(), cache, rc.endpoint(), loop=loop,
                            settings=CallSettings(retry=retry_policy(rc)))
                try:  # a rejected request fails its item; a 5xx, retried, stops the stage; a 404, the run
                    [out] = role.run([Call([{"role": "user", "content": "hello"}])], "teacher")
                    said = out.reason if isinstance(out, Failed) else out
                except LionError as e:
                    said = str(e)
                finally:
                    loop.run_until_complete(model.aclose())
                assert REASONS[name] in said
        finally:
            loop.close()
            cache.close()


def test_a_refused_connection_is_said_to_be_refused_at_once_not_timed_out(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LionError, match=rf"^teacher: cannot reach {url}: connection refused; is the server up"):
        _check(url, "anything", timeout_s=60)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    loop = asyncio.new_event_loop()
    rc = RoleConfig(backend="openai", model="anything", base_url=url, timeout_s=60, max_attempts=2, backoff_s=0.01,
                    backoff_max_s=0.02)
    model = OpenAIChatModel("teacher", rc)
    role = Role("teacher", model, rc.decoding.params(), cache, rc.endpoint(), loop=loop,
                settings=CallSettings(retry=retry_policy(rc)))
    start = time.monotonic()
    try:
        with pytest.raises(CallsFailed) as e:
            role.run([Call([{"role": "user", "content": "hello"}])], "teacher")
    finally:
        loop.run_until_complete(model.aclose())
        loop.close()
        cache.close()
    assert f"last reason: cannot connect to {url}: connection refused" in str(e.value)
    assert "timed out" not in str(e.value) and time.monotonic() - start < 10


def test_lion_run_stops_on_a_misspelt_model_before_the_run_folder_is_made(tmp_path):
    with serving() as (url, server):
        r = lion("run", str(CONFIG), "--out", "run", "--set", "threads=1", "--set", "teacher.backend=openai",
                 "--set", f"teacher.model={TYPO}", "--set", f"teacher.base_url={url}", cwd=tmp_path)
        asked = dict(server.completions)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"teacher: {url} answered a one-token test request for '{TYPO}' with HTTP 500: {NOT_FOUND}" in r.stderr
    assert not (tmp_path / "run").exists() and asked == {TYPO: 1}
