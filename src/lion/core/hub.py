"""Loading from the Hugging Face Hub on a machine that may not reach it.

Asked for a file they cannot fetch, the Hub's clients retry with back-off for about 25 s,
printing two warning lines a try, before they fall back to the local cache or give up, and a
model or a dataset takes several files: minutes of noise before one error. So before the
first load by Hub name, one quick question to the Hub (a single request, no retry) decides for
the whole process: it answered, and the libraries go on as usual; it did not, and their own
offline mode (`HF_HUB_OFFLINE`) is switched on, so every load reads the local cache at once
and fails at once where the cache lacks it.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from lion.core.errors import LionError

_PROBE_TIMEOUT_S = 3.0  # the Hub answers in well under a second; a blocked network waits this long, once

_lock = threading.Lock()
_offline_because: str | None = None  # why this process reads the cache only; None while it may fetch
_decided = False


class HubUnreachable(LionError):
    """A Hub name could not be loaded: it is not in the local cache, and the Hub cannot be reached."""


def is_hub_name(name: str | Path) -> bool:
    """Whether `name` means a Hub repository (`owner/name`) rather than a folder on this machine."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if Path(name).exists():
        return False
    try:
        validate_repo_id(str(name))
    except HFValidationError:
        return False
    return True


def hub_online(repo_id: str, repo_type: str = "model") -> bool:
    """Whether loads by Hub name may fetch; False once offline mode is on, by the environment or
    because the Hub did not answer one quick question about `repo_id` (which then switches it on).

    Asked once per process: the first answer holds for every later load.
    """
    global _decided, _offline_because
    from huggingface_hub import constants

    with _lock:
        if not _decided:
            _decided = True
            if constants.is_offline_mode():
                _offline_because = "offline mode is on (HF_HUB_OFFLINE)"
            else:
                silent = _probe(repo_id, repo_type)
                if silent is not None:
                    _offline_because = f"the Hub ({constants.ENDPOINT}) did not answer: {silent}"
                    _go_offline()
        return _offline_because is None and not constants.is_offline_mode()


def offline_reason() -> str:
    """Why loads by Hub name read the local cache only, as a clause: 'offline mode is on ...'."""
    return _offline_because or "offline mode is on (HF_HUB_OFFLINE)"


def _probe(repo_id: str, repo_type: str) -> str | None:
    """None where the Hub answered (with the repository or with an error of its own), else what
    went wrong on the way: one request, no retry, a few seconds at most."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    try:
        HfApi().repo_info(repo_id, repo_type=repo_type, timeout=_PROBE_TIMEOUT_S)
    except (HfHubHTTPError, HFValidationError):
        return None  # not found, gated, rate-limited, a bad name: the libraries say which
    except Exception as e:  # noqa: BLE001 - the HTTP client's own connect, DNS and time-out errors
        return (str(e).strip().splitlines() or [type(e).__name__])[0]
    return None


def _go_offline() -> None:
    """The libraries' own offline switch, for the rest of this process: `huggingface_hub` (which
    transformers asks) reads it at each request, `datasets` keeps its own copy, and the variable
    covers a library imported later and any child process."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    if "datasets" in sys.modules:
        sys.modules["datasets"].config.HF_HUB_OFFLINE = True
