"""Where a backend's registered name becomes code: the ChatModel that plays a role.

The registry (`lion.core.backends`) holds names and capabilities as data, since the config
below this layer validates against it. The class a name stands for is imported here, and only
when a role uses it, so a run with no local model never pays for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from lion.core.backends import BACKENDS
from lion.core.chat import ChatModel
from lion.core.config import RoleConfig
from lion.core.errors import LionError


class Implementation(Protocol):
    """A backend's ChatModel class, which builds itself from the role it plays: each backend
    takes what it needs from the config, and the rest of the package never learns what."""

    def from_role(self, role: str, cfg: RoleConfig, threads: int) -> ChatModel: ...


def implementation(backend: str) -> Implementation:
    """The class the registry names for `backend`, imported now."""
    path = BACKENDS[backend].implementation
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise LionError(f"backend '{backend}' is registered in lion.core.backends as {path}, which cannot be imported: {e}.") from None


def build_model(role: str, cfg: RoleConfig, threads: int) -> ChatModel:
    """The model that plays `role` (teacher, referee, ...); `threads` bounds a local model's CPU use."""
    return implementation(cfg.backend).from_role(role, cfg, threads)
