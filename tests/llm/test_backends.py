"""The backend registry: each backend's capabilities, not its name, decide how its roles are run.

A made-up backend, `ghost`, is registered for a test with one capability switched on or off, so
each test shows that capability at work rather than a name someone remembered to list.
"""

import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from lion.core.backends import BACKENDS, OPTIONS, Capabilities
from lion.core.chat import ChatModel, Completion, Decoding, Message
from lion.core.config import Price, RoleConfig, RunConfig, dump_config, load_config
from lion.core.errors import LionError
from lion.llm.backends import build_model, implementation
from lion.llm.cache import ResponseCache
from lion.llm.judging import first_mode
from lion.llm.pricing import price_of
from lion.llm.roles import Roles, check_endpoints, retry_policy, shared_model_warning

ROOT = Path(__file__).parents[2]
SHIPPED = sorted((ROOT / "src" / "lion" / "configs").glob("*.yaml"))


class Recorder:
    """The ghost backend's model: it answers "ok" and notes every model it is asked to check."""

    checked: ClassVar[list[str]] = []

    def __init__(self, cfg: RoleConfig) -> None:
        self.cfg = cfg

    @classmethod
    def from_role(cls, role: str, cfg: RoleConfig, threads: int) -> "Recorder":
        return cls(cfg)

    @property
    def name(self) -> str:
        return self.cfg.model

    async def complete(self, messages: list[Message], decoding: Decoding, sample: int = 0) -> Completion:
        return Completion("ok")

    async def check(self) -> None:
        Recorder.checked.append(self.cfg.model)

    async def aclose(self) -> None:
        pass


@pytest.fixture
def ghost(monkeypatch):
    """Registers `ghost` with the given capabilities; returns a role config that uses it."""
    monkeypatch.setattr(Recorder, "checked", [])

    def register(**capabilities) -> RoleConfig:
        monkeypatch.setitem(BACKENDS, "ghost", Capabilities(f"{__name__}:Recorder", **capabilities))
        return RoleConfig(backend="ghost", model="gpt-4o")

    return register


def ghost_run(models: dict[str, str]) -> RunConfig:
    return load_config(None, [s for role, model in models.items() for s in (f"{role}.backend=ghost", f"{role}.model={model}")])


# --- the registry itself ------------------------------------------------------------------


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_registered_implementation_imports_and_has_what_callers_use(backend):
    members = {n for n in vars(ChatModel) if not n.startswith("_")}
    assert {"name", "complete", "check", "aclose"} <= members
    cls = implementation(backend)
    assert isinstance(inspect.getattr_static(cls, "name"), property)
    for method in members - {"name"}:
        assert inspect.iscoroutinefunction(getattr(cls, method)), f"{cls.__name__}.{method}"
    assert inspect.ismethod(cls.from_role)  # a classmethod: the builder calls it on the class


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_option_a_backend_reads_is_a_role_field(backend):
    caps = BACKENDS[backend]
    assert caps.options <= set(RoleConfig.model_fields)
    assert caps.identity is None or caps.identity in caps.options
    assert caps.default_url is None or caps.remote


def test_the_registry_keeps_each_backend_as_it_was():
    """Timeouts, prices, structured output and sharing as before the registry; changing one
    changes how runs behave, so it must be deliberate."""
    facts = {name: (c.remote, c.timeouts, c.structured, c.priced, c.shared_model, c.simulated) for name, c in BACKENDS.items()}
    assert facts == {
        "arena": (False, False, True, False, False, True),
        "openai": (True, True, True, True, False, False),
        "azure": (True, True, True, True, False, False),
        "anthropic": (True, True, True, True, False, False),
        "hf_local": (False, False, False, False, True, False),
    }


def test_endpoints_are_byte_for_byte_what_old_cache_keys_hold():
    assert RoleConfig(backend="openai", model="m").endpoint() == "openai:https://api.openai.com/v1"
    assert RoleConfig(backend="openai", model="m", base_url="http://h:8000/v1/").endpoint() == "openai:http://h:8000/v1"
    assert RoleConfig(backend="azure", model="d", base_url="https://r.openai.azure.com/").endpoint() == "azure:https://r.openai.azure.com"
    assert RoleConfig(backend="hf_local", model="m", local={"batch_size": 2}).endpoint() == "hf_local"
    arena = RoleConfig(model="arena-referee", arena={"noise": 0.5})
    assert arena.endpoint() == 'arena:{"position_bias":0.0,"noise":0.5,"malformed_rate":0.05}'


def test_a_registered_module_that_is_missing_is_named_in_one_sentence(monkeypatch):
    monkeypatch.setitem(BACKENDS, "anthropic", Capabilities("lion.llm.backends.anthropic:AnthropicChatModel"))
    rc = RoleConfig(backend="anthropic", model="claude")
    with pytest.raises(LionError, match=r"backend 'anthropic' is registered in lion.core.backends as "
                                        r"lion.llm.backends.anthropic:AnthropicChatModel, which cannot be imported: "
                                        r"No module named 'lion.llm.backends.anthropic'\.$"):
        build_model("teacher", rc, threads=1)
    monkeypatch.setitem(BACKENDS, "anthropic", Capabilities("lion.llm.backends.openai_compat:AnthropicChatModel"))
    with pytest.raises(LionError, match=r"has no attribute 'AnthropicChatModel'"):
        build_model("teacher", rc, threads=1)


def test_a_run_without_a_local_model_never_imports_torch():
    code = ("import sys; from lion.core.config import load_config; from lion.llm.roles import check_endpoints; "
            "from lion.llm.backends import implementation; check_endpoints(load_config(None)); implementation('openai'); "
            "print(sorted({'torch', 'transformers'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_documented_recipe_for_a_new_backend_fits_the_registry():
    page = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    section = page.split("## Adding a backend\n", 1)[1].split("\n#", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    (name, caps), = eval("{" + block + "}", {"Capabilities": Capabilities}).items()  # fails if a field was renamed
    module, _, cls = caps.implementation.partition(":")
    assert f"src/{module.replace('.', '/')}.py" in section and cls and name not in BACKENDS
    assert caps.options <= set(RoleConfig.model_fields)
    assert "src/lion/core/backends.py" in section and (ROOT / "src/lion/core/backends.py").exists()


def test_the_endpoint_page_lists_every_backend_specific_field():
    text = (ROOT / "docs" / "endpoints.md").read_text(encoding="utf-8")
    listed = text.split("Fields that only some backends read (", 1)[1].split(")", 1)[0]
    assert set(re.findall(r"`(\w+)`", listed)) == OPTIONS


# --- each capability at work --------------------------------------------------------------


@pytest.mark.parametrize("on", [True, False])
def test_only_backends_with_timeouts_get_a_time_limit(ghost, on):
    rc = ghost(timeouts=on)
    assert retry_policy(rc).timeout_s == (rc.timeout_s if on else None)


@pytest.mark.parametrize("on", [True, False])
def test_only_priced_backends_cost_money(ghost, on):
    rc = ghost(priced=on)
    assert price_of(rc) == (Price(input_per_mtok=2.5, output_per_mtok=10.0) if on else Price())
    own = Price(input_per_mtok=1.0)
    assert price_of(rc.model_copy(update={"price": own})) == own  # the role's own price always wins


@pytest.mark.parametrize("on", [True, False])
def test_auto_asks_for_json_only_where_the_backend_offers_it(ghost, on):
    rc = ghost(structured=on)
    assert first_mode(rc) == ("json" if on else "text")
    assert first_mode(rc.model_copy(update={"structured": "text"})) == "text"


@pytest.mark.parametrize("on", [True, False])
def test_roles_share_one_model_in_memory_only_where_the_backend_does(ghost, tmp_path, on):
    ghost(shared_model=on)
    cache = ResponseCache(tmp_path / "c.sqlite")
    roles = Roles.from_config(ghost_run({"teacher": "m", "referee": "m", "judge": "other"}), cache)
    try:
        assert (roles.teacher.model is roles.referee.model) == on
        assert roles.judge.model is not roles.teacher.model
    finally:
        roles.close()
        cache.close()


@pytest.mark.parametrize("on", [True, False])
def test_self_preference_is_warned_of_only_for_language_models(ghost, on):
    ghost(simulated=on)
    warning = shared_model_warning(ghost_run({"teacher": "m", "referee": "m"}))
    assert (warning is None) == on


def test_each_model_is_checked_once_through_the_protocol(ghost):
    ghost()
    check_endpoints(ghost_run({"teacher": "m", "referee": "m", "generator": "g"}))
    assert sorted(Recorder.checked) == ["g", "m"]  # the judge is the arena's: its check looks at nothing
    check_endpoints(load_config(None))  # every arena role: built and checked without a call


def test_remote_backends_name_their_api_root_and_in_process_ones_their_identity(ghost):
    assert ghost(remote=True, default_url="https://api.example.com/").endpoint() == "ghost:https://api.example.com"
    assert ghost(identity="local", options=frozenset({"local"})).endpoint().startswith('ghost:{"device":"auto"')
    assert ghost().endpoint() == "ghost"


# --- options that belong to another backend -----------------------------------------------


@pytest.mark.parametrize("backend, line, field, readers", [
    ("openai", "api_version: '2024-10-21'", "api_version", "only the azure backend reads it"),
    ("hf_local", "base_url: http://localhost:8000/v1", "base_url", "only the openai, azure and anthropic backends read it"),
    ("openai", "local: {batch_size: 4}", "local", "only the hf_local backend reads it"),
    ("azure", "arena: {noise: 0.5}", "arena", "only the arena backend reads it"),
    ("arena", "send_seed: false", "send_seed", "only the openai and azure backends read it"),
    ("anthropic", "send_seed: false", "send_seed", "only the openai and azure backends read it"),
    ("anthropic", "api_version: v1", "api_version", "only the azure backend reads it"),
    ("anthropic", "local: {batch_size: 2}", "local", "only the hf_local backend reads it"),
])
def test_an_option_the_backend_would_ignore_is_refused_with_file_line_and_field(tmp_path, backend, line, field, readers):
    p = tmp_path / "run.yaml"
    p.write_text(f"loop:\n  iterations: 2\nreferee:\n  backend: {backend}\n  model: m\n  {line}\n")
    with pytest.raises(LionError) as e:
        load_config(p)
    assert str(e.value) == f"{p}, line 6, field 'referee.{field}': {readers}."


def test_an_option_set_on_the_command_line_is_refused_as_such():
    with pytest.raises(LionError, match=r"^--set teacher.api_version: only the azure backend reads it\.$"):
        load_config(None, ["teacher.backend=openai", "teacher.model=gpt-4o", "teacher.api_version=v1"])
    with pytest.raises(LionError, match=r"^--set judge.arena: only the arena backend reads it\.$"):
        load_config(None, ["judge.backend=openai", "judge.arena.noise=1"])


def test_an_unknown_backend_names_file_line_field_and_the_choices(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text("teacher:\n  backend: cohere\n")
    with pytest.raises(LionError) as e:
        load_config(p)
    assert str(e.value) == f"{p}, line 2, field 'teacher.backend': unknown backend 'cohere'; choose one of {', '.join(BACKENDS)}."


def test_a_stored_config_with_every_field_written_out_loads_again(tmp_path):
    """A run folder's config.yaml holds every option at its default, foreign ones included."""
    cfg = load_config(None, ["teacher.backend=azure", "teacher.base_url=https://r.openai.azure.com", "teacher.api_version=v",
                             "referee.backend=hf_local", "referee.model=some/model", "referee.local.batch_size=2",
                             "judge.backend=openai", "judge.model=gpt-4o", "judge.send_seed=false"])
    p = tmp_path / "config.yaml"
    p.write_text(dump_config(cfg))
    assert load_config(p) == cfg


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.name)
def test_the_starter_configs_lion_init_writes_load(config):
    load_config(config)


def test_an_arena_model_it_has_no_role_for_is_refused_with_the_field():
    with pytest.raises(LionError, match=r"^referee.model: unknown arena model 'gpt-4o'; choose one of arena-teacher"):
        build_model("referee", RoleConfig(model="gpt-4o"), threads=1)
