"""Default prices for common hosted models, so spend is counted without any setup.

List prices in US dollars per million tokens (input, output) for standard, non-batch,
non-cached use, as published by OpenAI; recorded on the date below. Prices change: a role's
`price` in the config always wins, and a model not listed here has no known price, which
`budget.max_usd` refuses rather than guess.
"""

from __future__ import annotations

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


def cost_usd(price: Price, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6
