"""Anthropic's prompt caching, simulated honestly: what a prompt's bill is, given what was sent before.

A prompt is a sequence of blocks (tools, then system blocks, then the messages' blocks, in
Anthropic's order). A `cache_control` marker after a block makes the prefix ending there
cacheable, when it holds at least `min_tokens` tokens; shorter marked prefixes are not cached,
silently, as Anthropic does. A request reads the longest marked prefix that is in the cache
and still alive, and writes every longer marked prefix, up to the last; all its marked
prefixes then live `ttl_s` more from now (a `"1h"` marker twelve times that, the ratio of
Anthropic's two lifetimes). The bill splits the prompt's tokens three ways, as Anthropic's
usage does: `cache_read_input_tokens` (the prefix read), `cache_creation_input_tokens` (from
there to the last cacheable marker) and `input_tokens` (the rest), which add up to the whole
prompt. Entries are kept per model, as a provider keeps them, and time is the cache's own
`clock`, which a test may set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence


@dataclasses.dataclass(frozen=True)
class Block:
    """One piece of a prompt: what identifies it, its tokens, and the lifetime its marker asks for.

    `identity` says where the block sits as well as what it says (a tool, the system prompt, the
    n-th message of a role), so two prompts share a prefix only where they are the same prompt.
    """

    identity: str
    tokens: int
    marker: str | None = None  # "5m" or "1h" when a cache_control marks the block, else None


@dataclasses.dataclass(frozen=True)
class Bill:
    """A prompt's tokens as Anthropic's usage reports them; the three add up to the whole prompt."""

    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


_LONG_LIVED = 12  # a "1h" entry outlives a "5m" one twelve times


class PromptCache:
    """The cached prefixes of one served arena, with their expiry times, and how often they were used."""

    def __init__(self, min_tokens: int, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.min_tokens, self.ttl_s, self.clock = min_tokens, ttl_s, clock
        self.entries: dict[bytes, float] = {}  # prefix hash -> when it expires
        self.reads = 0  # requests that read a prefix from the cache
        self.writes = 0  # requests that wrote one

    def bill(self, model: str, blocks: Sequence[Block]) -> Bill:
        """The prompt's bill, reading and writing the cache as the provider would."""
        total = sum(b.tokens for b in blocks)
        marked: list[tuple[bytes, int, str]] = []  # (prefix hash, prefix tokens, marker) of cacheable prefixes
        running, tokens = hashlib.sha256(model.encode("utf-8")), 0
        for block in blocks:
            running.update(len(block.identity).to_bytes(8, "big") + block.identity.encode("utf-8"))
            tokens += block.tokens
            if block.marker is not None and tokens >= self.min_tokens:
                marked.append((running.copy().digest(), tokens, block.marker))
        if not marked:
            return Bill(total, 0, 0)
        now = self.clock()
        self.entries = {k: until for k, until in self.entries.items() if until > now}
        read = max((size for key, size, _ in marked if key in self.entries), default=0)
        written = marked[-1][1] - read
        for key, _, marker in marked:
            self.entries[key] = now + self.ttl_s * (_LONG_LIVED if marker == "1h" else 1)
        self.reads += read > 0
        self.writes += written > 0
        return Bill(total - read - written, written, read)

    def stats(self) -> dict[str, int]:
        return {"cache_reads": self.reads, "cache_writes": self.writes}
