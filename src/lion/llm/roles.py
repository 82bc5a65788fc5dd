"""Builds the four LLM roles of a run from its config, on one event loop they all share.

Roles that call the same model at the same endpoint share its rate limits, since a provider
counts them together; all roles share the run's budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, fields

from lion.core.chat import ChatModel
from lion.core.config import RoleConfig, RunConfig
from lion.core.errors import LionError
from lion.llm.backends import build_model
from lion.llm.batches import BatchLedger
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import CallSettings, Ledger, Limits, Retry, Role
from lion.llm.pricing import price_of

NAMES = ("teacher", "referee", "generator", "judge")


def retry_policy(cfg: RoleConfig) -> Retry:
    """The role's retry settings; only backends whose calls can be cut short get a time limit,
    since a local batch cannot be, and retrying it would only queue the same work twice."""
    timeout = cfg.timeout_s if cfg.capabilities.timeouts else None
    return Retry(cfg.max_attempts, cfg.backoff_s, cfg.backoff_max_s, timeout)


@dataclass
class Roles:
    teacher: Role
    referee: Role
    generator: Role
    judge: Role

    @classmethod
    def from_config(cls, cfg: RunConfig, cache: ResponseCache) -> Roles:
        loop = asyncio.new_event_loop()
        ledger = Ledger(cache, cfg.budget.max_usd)
        configs: dict[str, RoleConfig] = {name: getattr(cfg, name) for name in NAMES}
        limits: dict[tuple[str, str], Limits] = {}
        models: dict[tuple[str, str], ChatModel] = {}  # one shared model in memory, however many roles
        batches = BatchLedger(cache.path) if any(rc.mode == "batch" for rc in configs.values()) else None
        roles = {}
        for name, rc in configs.items():
            price = price_of(rc)
            if price is None and cfg.budget.max_usd is not None:
                raise LionError(
                    f"{name}.price: budget.max_usd is set but no price is known for model '{rc.model}'; "
                    "set its input_per_mtok and output_per_mtok."
                )
            shared = (rc.endpoint(), rc.model)
            if shared not in limits:
                group = [c for c in configs.values() if (c.endpoint(), c.model) == shared]
                limits[shared] = Limits.per_minute(
                    min((c.rpm for c in group if c.rpm), default=None), min((c.tpm for c in group if c.tpm), default=None)
                )
            if not rc.capabilities.shared_model or shared not in models:
                models[shared] = build_model(name, rc, cfg.torch_threads())
            settings = CallSettings(concurrency=rc.concurrency, retry=retry_policy(rc), limits=limits[shared], price=price,
                                    batch=rc.batch_settings() if rc.mode == "batch" else None,
                                    caches_prompts=rc.capabilities.caches_prompts)
            roles[name] = Role(name, models[shared], rc.decoding.params(), cache, rc.endpoint(),
                               loop=loop, settings=settings, ledger=ledger, batches=batches)
        return cls(**roles)

    def all(self) -> list[Role]:
        return [getattr(self, f.name) for f in fields(self)]

    def set_stage(self, stage: str) -> None:
        """Name the step whose calls follow, for the accounting of tokens and cost."""
        for role in self.all():
            role.stage = stage

    def close(self) -> None:
        """Release every model once (connections, memory) and the roles' event loop.

        Safe to call twice, and a model whose release fails still lets the others go: a
        connection left open is reported by aiohttp at exit as an unclosed session.
        """
        loop = self.teacher.loop
        if loop.is_closed():
            return
        models = {id(role.model): role.model for role in self.all()}
        if self.teacher.batches is not None:
            self.teacher.batches.close()
        failed: Exception | None = None
        try:
            for model in models.values():
                try:
                    loop.run_until_complete(model.aclose())
                except Exception as e:
                    failed = failed or e
        finally:
            loop.close()
        if failed is not None:
            raise failed


def check_endpoints(cfg: RunConfig) -> None:
    """Fail fast, before the run folder is touched: every remote role's key variable is set,
    its server answers and accepts the key, and it serves the model; a local role's model has
    a chat template (each backend's `check` says what it looks at; the arena's looks at nothing).
    Each model is checked once, however many roles it plays."""
    check_models([(name, getattr(cfg, name)) for name in NAMES], cfg.torch_threads())


def check_models(roles: Iterable[tuple[str, RoleConfig]], threads: int) -> None:
    """`check_endpoints` for roles gathered from several configs (`lion eval` names a role of
    each): each (endpoint, model) once, in order, the first role naming it in the messages."""
    seen: set[tuple[str, str]] = set()
    loop = asyncio.new_event_loop()
    try:
        for name, rc in roles:
            if (rc.endpoint(), rc.model) in seen:
                continue
            seen.add((rc.endpoint(), rc.model))
            model = build_model(name, rc, threads)
            try:
                loop.run_until_complete(model.check())
            finally:
                loop.run_until_complete(model.aclose())
    finally:
        loop.close()


def shared_model_warning(cfg: RunConfig) -> str | None:
    """A referee that is also the teacher tends to prefer the teacher's answers (self-preference).

    The paper used one model for teacher, referee and generator; we warn and go on. A simulated
    backend (the arena) plays each role from its own script, so it has no such bias.
    """
    def who(name: str) -> tuple[str, str]:
        rc: RoleConfig = getattr(cfg, name)
        return rc.endpoint(), rc.model

    if cfg.teacher.capabilities.simulated or who("referee") != who("teacher"):
        return None
    same = [n for n in ("teacher", "referee", "generator") if who(n) == who("teacher")]
    names = ", ".join(same[:-1]) + " and " + same[-1]
    return (
        f"warning: {names} are the same model ('{cfg.teacher.model}'). A model judging its own answers "
        "tends to favour them; a different referee gives a fairer hard/easy split."
    )
