"""What every backend that calls an HTTP API shares, whichever SDK makes the call.

A provider's SDK raises its own error classes, but the questions the dispatcher needs answered
are the same for all of them: did a connection ever open, how long did the server ask us to
wait, what reason did it give, and is any credential in that reason. The answers live here, so
the OpenAI-compatible and the Anthropic backends classify failures alike and no key reaches a
message by either road.
"""

from __future__ import annotations

import email.utils
import errno
import os
import re
import socket
import time

from lion.core.chat import CallError
from lion.core.config import RoleConfig
from lion.core.errors import LionError

_KEYLIKE = re.compile(r"\b(sk|key|token)-[A-Za-z0-9_\-*]{6,}")
_CONNECT_ERRNOS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
}


# besides every 5xx (529, Anthropic's "overloaded", among them): statuses that may pass if asked again
RETRY_STATUSES = frozenset({408, 409, 429})


def retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def call_error(e: BaseException, role: str, cfg: RoleConfig, key: str | None, *, timed_out: bool = False,
               connection: bool = False, status: int | None = None, body: object = None, headers=None) -> CallError:
    """A failed call as the dispatcher needs it, whichever SDK raised it (the SDK says what kind of
    failure it was): a refused key or an unknown model stops the run; a connection that failed,
    a time-out, a rate limit or a server error may pass; any other refusal fails the call, with
    the server's reason and no key in it."""
    why = connect_failure(e)
    if why is not None:  # before the time-out test: a refused connection can arrive dressed as one
        return CallError(f"cannot connect to {cfg.url()}: {why}", retryable=True)
    if timed_out:
        return CallError(f"timed out after {cfg.timeout_s:g} s", retryable=True)
    if connection:
        cause = e.__cause__ or e.__context__
        return CallError(f"connection failed{f': {type(cause).__name__}' if cause is not None else ''}", retryable=True)
    if status is None:
        return CallError(redact(f"{type(e).__name__}: {e}", key), retryable=True)
    where, message = f"{cfg.url()} ({cfg.model})", redact(server_message(body), key)
    if status in (401, 403):
        var = cfg.key_env() or "(no api_key_env set)"
        return CallError(f"{role}: {where} refused the API key from {var} (HTTP {status}): {message}",
                         retryable=False, fatal=True)
    if status == 404:
        return CallError(f"{role}: {where} answered 404 (unknown model or wrong base_url): {message}",
                         retryable=False, fatal=True)
    if retryable_status(status):
        return CallError(f"HTTP {status}: {message}", retryable=True, retry_after=retry_after_seconds(headers))
    return CallError(f"HTTP {status}: {message}", retryable=False)


def unreachable(e: BaseException, role: str, cfg: RoleConfig, timed_out: str | None) -> str:
    """Why a check found no server, in one sentence; `timed_out` says what a time-out means
    here, None where the error was not one."""
    why = connect_failure(e)
    if why is None:
        cause = e.__cause__ or e.__context__
        why = timed_out if timed_out is not None else f"the connection failed ({type(cause or e).__name__})"
    return f"{role}: cannot reach {cfg.url()}: {why}; is the server up and base_url right?"


def read_key(role: str, cfg: RoleConfig) -> str | None:
    """The role's API key from its environment variable (its own, else its backend's); None where
    neither names one. A variable named but empty is refused: every call would be refused too."""
    var = cfg.key_env()
    if var is None:
        return None
    key = os.environ.get(var, "").strip()
    if not key:
        where = f"{role}.api_key_env" if cfg.api_key_env else f"{role} ({cfg.backend} reads {var} unless api_key_env names another)"
        raise LionError(f"{where}: the environment variable {var} is not set; export the API key there.")
    return key


def redact(text: str, key: str | None) -> str:
    """`text` with the API key (and anything shaped like one) blanked out."""
    if key:
        text = text.replace(key, "***")
    return _KEYLIKE.sub(lambda m: m.group(1) + "-***", text)


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


def server_message(body: object) -> str:
    """The server's own reason for an error answer, whatever its shape, in at most 300 characters.

    An SDK's own text is only "Error code: 400", which tells a user nothing. OpenAI and
    Anthropic put the reason in `error.message`, others in `message` or in `error` as a
    string, FastAPI servers (`transformers serve`) in `detail`: a string, or a list of
    {loc, msg} validation errors; some answer plain text. Keys are blanked by the caller.
    """
    reason = _reason(body)
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


def shown(models: list[str] | None) -> str:
    """A few of the models an endpoint lists, for a message that names a model it does not serve."""
    models = sorted(models or [])
    return ", ".join(models[:8]) + (" ..." if len(models) > 8 else "")
