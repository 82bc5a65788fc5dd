"""Runs a stage's calls to one role concurrently, through the cache.

Each answer is written to the cache the moment it arrives, before anything uses it, so a kill
at any point loses at most the calls in flight.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass

from lion.llm.base import ChatModel, Completion, Decoding, Message
from lion.llm.cache import ResponseCache, request_key
from lion.progress import bar


@dataclass(frozen=True)
class Call:
    messages: list[Message]
    sample: int = 0


class Role:
    """A chat model bound to its decoding settings, its cache and its concurrency limit."""

    def __init__(
        self,
        name: str,
        model: ChatModel,
        decoding: Decoding,
        cache: ResponseCache,
        endpoint: str,
        concurrency: int = 16,
    ):
        self.name = name
        self.model = model
        self.decoding = decoding
        self.cache = cache
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.calls_made = 0

    def key(self, call: Call) -> str:
        return request_key(
            {
                "endpoint": self.endpoint,
                "model": self.model.name,
                "messages": call.messages,
                "decoding": asdict(self.decoding),
                "sample": call.sample,
            }
        )

    async def _run(self, calls: list[Call], advance) -> list[Completion]:
        sem = asyncio.Semaphore(self.concurrency)

        async def one(call: Call) -> Completion:
            key = self.key(call)
            hit = self.cache.get(key)
            if hit is not None:
                advance(1)
                return hit
            async with sem:
                out = await self.model.complete(call.messages, self.decoding, call.sample)
            self.cache.put(key, self.model.name, out)
            self.calls_made += 1
            advance(1)
            return out

        return list(await asyncio.gather(*(one(c) for c in calls)))

    def run(self, calls: list[Call], label: str) -> list[Completion]:
        with bar(label, len(calls)) as advance:
            return asyncio.run(self._run(calls, advance))
