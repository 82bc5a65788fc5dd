"""Builds the four LLM roles of a run from its config."""

from __future__ import annotations

from dataclasses import dataclass

from lion.config import RoleConfig, RunConfig
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import Role


def build_role(name: str, cfg: RoleConfig, cache: ResponseCache) -> Role:
    if cfg.backend == "arena":
        from lion.arena import ArenaChatModel

        model, endpoint = ArenaChatModel(cfg.model, cfg.arena), "arena"
    else:  # the config's Literal keeps this unreachable; a new backend must be added here
        raise AssertionError(cfg.backend)
    return Role(name, model, cfg.decoding.params(), cache, endpoint, cfg.concurrency)


@dataclass
class Roles:
    teacher: Role
    referee: Role
    generator: Role
    judge: Role

    @classmethod
    def from_config(cls, cfg: RunConfig, cache: ResponseCache) -> Roles:
        return cls(
            teacher=build_role("teacher", cfg.teacher, cache),
            referee=build_role("referee", cfg.referee, cache),
            generator=build_role("generator", cfg.generator, cache),
            judge=build_role("judge", cfg.judge, cache),
        )
