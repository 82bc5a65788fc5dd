"""The LLM backends a role can name, each with what it can do: the one place a backend is registered.

Callers ask a backend's capabilities, never its name, so that a backend added here is timed
out, priced, checked and judged like the others without any other module learning of it. The
registry is plain data in core because the config, which validates names against it, sits
below the implementations; those are named by import path and imported only when a role uses
them, so a run without a local model never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, as the config, the dispatcher, pricing and judging need to know it."""

    # "module:Class" of its ChatModel; the class builds itself with `from_role(role, cfg, threads)`
    implementation: str
    # calls leave this process for an API root, which is then the endpoint its answers come from
    remote: bool = False
    # the API root when a role sets no base_url; None where the role must name one
    default_url: str | None = None
    # a call may be cut short at the role's timeout_s and tried again; a local batch cannot be
    timeouts: bool = False
    # can be asked for a reply that follows a JSON schema, so `structured: auto` asks for one
    structured: bool = False
    # bills per token: its price comes from the role or the built-in table; otherwise it is free
    priced: bool = False
    # one copy in memory serves every role that names the same model, as weights are too big for two
    shared_model: bool = False
    # plays scripted roles, not a language model: it has no self-preference to warn of
    simulated: bool = False
    # the RoleConfig fields, of those only some backends read, that this one reads; a role may
    # not set the others, since they would be silently ignored
    options: frozenset[str] = frozenset()
    # the option section that decides its answers as a server's weights would: part of its endpoint
    identity: str | None = None
    # the environment variable its API key is read from when the role names none in api_key_env
    key_env: str | None = None
    # marks a prompt's system message (and the tools before it) for the provider's prompt cache,
    # which then bills those tokens at its cache-write and cache-read prices (see lion.llm.pricing)
    caches_prompts: bool = False
    # its Batches API's documented limits: requests per batch, and bytes of requests per batch
    batch_limits: tuple[int, int] | None = None


# a request file of 200 MB and 50,000 requests (OpenAI's Batch API; Azure's global batches take the same),
# kept a little under the byte limit for the file's own overhead
_OPENAI_BATCHES = (50_000, 190 * 2**20)
# a batch of 100,000 requests or 256 MB (Anthropic's Message Batches), kept under it for the body's overhead
_ANTHROPIC_BATCHES = (100_000, 240 * 2**20)

BACKENDS: dict[str, Capabilities] = {
    "arena": Capabilities(
        "lion.arena.chat:ArenaChatModel", structured=True, simulated=True, options=frozenset({"arena"}), identity="arena"
    ),
    "openai": Capabilities(
        "lion.llm.backends.openai_compat:OpenAIChatModel", remote=True, default_url="https://api.openai.com/v1",
        timeouts=True, structured=True, priced=True,
        options=frozenset({"base_url", "api_key_env", "send_seed", "mode", "batch"}), batch_limits=_OPENAI_BATCHES,
    ),
    "azure": Capabilities(
        "lion.llm.backends.openai_compat:AzureChatModel", remote=True, timeouts=True, structured=True, priced=True,
        options=frozenset({"base_url", "api_key_env", "api_version", "send_seed", "mode", "batch"}),
        batch_limits=_OPENAI_BATCHES,
    ),
    "anthropic": Capabilities(
        "lion.llm.backends.anthropic_native:AnthropicChatModel", remote=True, default_url="https://api.anthropic.com",
        timeouts=True, structured=True, priced=True, options=frozenset({"base_url", "api_key_env", "mode", "batch"}),
        key_env="ANTHROPIC_API_KEY", caches_prompts=True, batch_limits=_ANTHROPIC_BATCHES,
    ),
    "hf_local": Capabilities(
        "lion.llm.backends.hf_local:HFLocalChatModel", shared_model=True, options=frozenset({"local"})
    ),
}

# every backend-specific RoleConfig field: a role may set one only where its backend reads it
OPTIONS: frozenset[str] = frozenset().union(*(c.options for c in BACKENDS.values()))


def readers(option: str) -> list[str]:
    """The backends that read `option`, in registry order."""
    return [name for name, caps in BACKENDS.items() if option in caps.options]
