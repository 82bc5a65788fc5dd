"""What a call costs: default prices for common hosted models, and the prompt tokens a server bills.

List prices in US dollars per million tokens (input, output) for standard, non-batch,
non-cached use, as published by OpenAI; recorded on the date below. Prices change: a role's
`price` in the config always wins, and a model not listed here has no known price, which
`budget.max_usd` refuses rather than guess.

A server bills the prompt as its model reads it: the text in the model's own tokens, wrapped
in the model's chat template (role markers, often a default system message). Four characters
a token sees neither, and undercounts short prompts several times over, so a budget reserved
from it can be passed. `PromptMeter` bounds a prompt's billed tokens from that estimate and
from what the endpoint has billed so far; a backend that can count a prompt itself
(`lion.core.chat.CountsPromptTokens`) needs no bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lion.core.config import Price, RoleConfig

PRICES_AS_OF = "2025-06-15"

_PRICES: dict[str, tuple[float, float]] = {
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
    """The role's price: its own, free for backends that bill nothing, else the table's by model name.

    A dated snapshot name ("gpt-4o-mini-2024-07-18") takes its family's price; the longest
    matching family wins, so "gpt-4o-mini-..." is not priced as "gpt-4o".
    """
    if role.price is not None:
        return role.price
    if not role.capabilities.priced:
        return Price()
    family = max((m for m in _PRICES if role.model == m or role.model.startswith(m + "-")), key=len, default=None)
    if family is None:
        return None
    inp, out = _PRICES[family]
    return Price(input_per_mtok=inp, output_per_mtok=out)


# OpenAI's Batch API, and Azure OpenAI's global batch deployments, bill half the list price
BATCH_DISCOUNT = 0.5


def batch_price(price: Price) -> Price:
    """What the same tokens cost through the provider's batch API: the role's batch prices where
    it names them, else the online ones at the batch discount."""
    def at(batch: float | None, online: float) -> float:
        return online * BATCH_DISCOUNT if batch is None else batch

    return Price(input_per_mtok=at(price.batch_input_per_mtok, price.input_per_mtok),
                 output_per_mtok=at(price.batch_output_per_mtok, price.output_per_mtok))


def cost_usd(price: Price, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6


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
