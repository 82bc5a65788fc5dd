"""What a call costs: default prices for common hosted models, and the prompt tokens a server bills.

List prices in US dollars per million tokens (input, output) for standard, non-batch,
non-cached use, as published by OpenAI and Anthropic; recorded on the dates below. Prices
change: a role's `price` in the config always wins, and a model not listed here has no known
price, which `budget.max_usd` refuses rather than guess. A dated snapshot of a listed model
("claude-sonnet-4-5-20250929", "gpt-4o-mini-2024-07-18") takes its price; any other name
that merely starts like one does not, since a new model in an old family is often priced anew.

A provider's prompt cache bills the prompt tokens it writes and reads at their own prices
(Anthropic: 1.25 times the input price for its 5-minute cache, and a tenth of it for a read),
so a role that marks prompts for caching is reserved against the budget at the dearer of the
input and cache-write prices (`at_most`), and billed at what its usage reports.

A server bills the prompt as its model reads it: the text in the model's own tokens, wrapped
in the model's chat template (role markers, often a default system message). Four characters
a token sees neither, and undercounts short prompts several times over, so a budget reserved
from it can be passed. `PromptMeter` bounds a prompt's billed tokens from that estimate and
from what the endpoint has billed so far; a backend that can count a prompt itself
(`lion.core.chat.CountsPromptTokens`) needs no bound.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lion.core.chat import Usage
from lion.core.config import Price, RoleConfig

PRICES_AS_OF = {"openai": "2025-06-15", "anthropic": "2026-12-07"}

_PRICES: dict[str, tuple[float, float]] = {
    # Anthropic's pricing page (platform.claude.com/docs/en/about-claude/pricing)
    "claude-opus-4-8": (5.00, 25.00),
    "claude-opus-4-7": (5.00, 25.00),
    "claude-opus-4-6": (5.00, 25.00),
    "claude-opus-4-5": (5.00, 25.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4-6": (3.00, 15.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-haiku": (0.25, 1.25),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}


def price_of(role: RoleConfig) -> Price | None:
    """The role's price: its own, free for backends that bill nothing, else the table's by model name."""
    if role.price is not None:
        return role.price
    if not role.capabilities.priced:
        return Price()
    family = _SNAPSHOT.fullmatch(role.model)
    listed = _PRICES.get(role.model) or (_PRICES.get(family.group(1)) if family else None)
    if listed is None:
        return None
    inp, out = listed
    return Price(input_per_mtok=inp, output_per_mtok=out)


_SNAPSHOT = re.compile(r"(.+?)-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)")

# OpenAI's Batch API, Azure OpenAI's global batch deployments and Anthropic's Message Batches
# bill half the list price, cache writes and reads included
BATCH_DISCOUNT = 0.5
# Anthropic's prompt cache: a write (5-minute lifetime) and a read, against the input price
CACHE_WRITE = 1.25
CACHE_READ = 0.1


def cache_prices(price: Price) -> tuple[float, float]:
    """What a prompt token written to and read from the provider's cache costs, per million."""
    write = price.input_per_mtok * CACHE_WRITE if price.cache_write_per_mtok is None else price.cache_write_per_mtok
    read = price.input_per_mtok * CACHE_READ if price.cache_read_per_mtok is None else price.cache_read_per_mtok
    return write, read


def batch_price(price: Price) -> Price:
    """What the same tokens cost through the provider's batch API: the role's batch prices where
    it names them, else the online ones at the batch discount; cached tokens at the discount."""
    def at(batch: float | None, online: float) -> float:
        return online * BATCH_DISCOUNT if batch is None else batch

    write, read = cache_prices(price)
    return Price(input_per_mtok=at(price.batch_input_per_mtok, price.input_per_mtok),
                 output_per_mtok=at(price.batch_output_per_mtok, price.output_per_mtok),
                 cache_write_per_mtok=write * BATCH_DISCOUNT, cache_read_per_mtok=read * BATCH_DISCOUNT)


def at_most(price: Price, caches_prompts: bool) -> Price:
    """The price a call's worst case is reserved at: where the prompt may be written to the
    provider's cache, each of its tokens at the dearer of the input and cache-write prices."""
    if not caches_prompts:
        return price
    return price.model_copy(update={"input_per_mtok": max(price.input_per_mtok, cache_prices(price)[0])})


def cost_usd(price: Price, prompt_tokens: int, completion_tokens: int) -> float:
    """Tokens that no cache touched, at the input and output prices."""
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6


def usage_cost(price: Price, usage: Usage) -> float:
    """What an answer's usage costs, its cache writes and reads at their own prices."""
    write, read = cache_prices(price)
    plain = usage.prompt_tokens - usage.cache_write_tokens - usage.cache_read_tokens
    return (cost_usd(price, plain, usage.completion_tokens)
            + (usage.cache_write_tokens * write + usage.cache_read_tokens * read) / 1e6)


# The shortest prefix each Claude model caches, in tokens, as Anthropic's prompt-caching guide
# lists it; a marked prefix shorter than that is billed as plain input, without an error.
_CACHE_MIN_TOKENS: dict[str, int] = {
    "claude-opus-4-6": 4096, "claude-opus-4-5": 4096, "claude-haiku-4-5": 4096,
    "claude-opus-4-1": 1024, "claude-opus-4": 1024, "claude-sonnet-4-6": 1024, "claude-sonnet-4-5": 1024,
    "claude-sonnet-4": 1024, "claude-3-7-sonnet": 1024, "claude-3-5-haiku": 2048, "claude-3-haiku": 2048,
}
CACHE_MIN_TOKENS_UNLISTED = 1024


def cache_min_tokens(model: str) -> int:
    """The shortest prompt prefix `model` caches: the listed figure, else the most common one."""
    family = _SNAPSHOT.fullmatch(model)
    listed = _CACHE_MIN_TOKENS.get(model) or (_CACHE_MIN_TOKENS.get(family.group(1)) if family else None)
    return listed or CACHE_MIN_TOKENS_UNLISTED


# Before an endpoint has billed anything: twice the estimate (text in a denser tokenizer than
# four characters a token) and room for a chat template; the largest templates of common open
# models, default system message included, take well under 128 tokens.
START_RATIO = 2.0
START_ALLOWANCE = 128
# Once it has: the largest ratio seen with a quarter more, or the largest excess seen, whichever
# is larger, and a few tokens for templates that grow with the messages.
MARGIN = 1.25
SLACK = 32


@dataclass
class PromptMeter:
    """An upper bound on the prompt tokens one model at one endpoint bills, learned from its usage.

    Two things make a server bill more than the estimate (`estimate_tokens`, four characters a
    token): a tokenizer that cuts the text finer, which grows with the prompt, and a chat
    template, which adds about the same tokens to every prompt. The largest billed/estimated
    ratio seen covers the first, but learned on long prompts it misses a template's weight on
    short ones; the largest billed-minus-estimated excess seen covers the second. The bound
    takes the larger of the two, so neither kind of server can beat it once one call of a
    similar kind has been billed. Until then it is deliberately generous, and the dispatcher
    sends a priced role's calls one at a time (see `lion.llm.dispatch.Role`).
    """

    ratio: float | None = None  # the largest billed / estimated prompt tokens seen; None: nothing billed yet
    excess: int = 0  # the largest billed - estimated prompt tokens seen (negative where the server bills less)

    @property
    def learned(self) -> bool:
        return self.ratio is not None

    def bound(self, estimate: int) -> int:
        """The most prompt tokens a prompt of `estimate` estimated tokens can be billed as."""
        if self.ratio is None:
            return math.ceil(START_RATIO * estimate) + START_ALLOWANCE
        return max(math.ceil(MARGIN * self.ratio * estimate), estimate + self.excess) + SLACK

    def learn(self, estimate: int, billed: int) -> None:
        """Take in one answer's billed prompt tokens; a server that reports none teaches nothing."""
        if estimate > 0 and billed > 0:
            self.include(billed / estimate, billed - estimate)

    def include(self, ratio: float, excess: int) -> None:
        """Cover a ratio and an excess seen before: another answer's, or the maxima of the cache's rows."""
        if self.ratio is None:
            self.ratio, self.excess = ratio, int(excess)
        else:
            self.ratio, self.excess = max(self.ratio, ratio), max(self.excess, int(excess))
