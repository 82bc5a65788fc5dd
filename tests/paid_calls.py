"""What a run paid for, as its cache recorded it: each answer fetched from a model, per step."""

from pathlib import Path

from lion.llm.cache import ResponseCache
from lion.loop.run_folder import RunFolder


def paid_calls(run: Path) -> dict[str, dict[str, int]]:
    """Calls per step and role that reached a model."""
    cache = ResponseCache(RunFolder(run).cache_path, read_only=True)
    try:
        paid: dict[str, dict[str, int]] = {}
        for row in cache.usage():
            paid.setdefault(row["stage"], {})[row["role"]] = row["calls"]
        return paid
    finally:
        cache.close()


def paid_per_step(run: Path) -> dict[str, int]:
    """Calls per step that reached a model, all roles together."""
    return {step: sum(roles.values()) for step, roles in paid_calls(run).items()}
