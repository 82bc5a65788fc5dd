import gc
import warnings

from arena_server import arena_server
from lion.core.config import load_config
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import Call
from lion.llm.roles import Roles, shared_model_warning


def test_roles_on_one_endpoint_share_its_limits_and_the_run_shares_one_budget(tmp_path):
    cfg = load_config(None, ["referee.model=arena-teacher", "teacher.rpm=600", "referee.rpm=300",
                             "budget.max_usd=5", "teacher.price.input_per_mtok=1"])
    cache = ResponseCache(tmp_path / "c.sqlite")
    roles = Roles.from_config(cfg, cache)
    try:
        assert roles.teacher.settings.limits is roles.referee.settings.limits
        assert roles.teacher.settings.limits.rpm.max_rate == 30  # the lower of the two, per six seconds
        assert roles.generator.settings.limits is not roles.teacher.settings.limits
        assert roles.generator.settings.limits.rpm is None
        assert len({id(r.ledger) for r in roles.all()}) == 1 and roles.teacher.ledger.max_usd == 5
        assert roles.teacher.price.input_per_mtok == 1 and roles.judge.price.input_per_mtok == 0
    finally:
        roles.close()
        cache.close()


def test_one_local_model_serves_every_role_that_names_it(tmp_path):
    cfg = load_config(None, [f"{r}.backend=hf_local" for r in ("teacher", "referee")]
                      + [f"{r}.model=some/model" for r in ("teacher", "referee")])
    cache = ResponseCache(tmp_path / "c.sqlite")
    roles = Roles.from_config(cfg, cache)  # nothing loads until a call
    try:
        assert roles.teacher.model is roles.referee.model
        assert roles.teacher.settings.retry.timeout_s is None
    finally:
        roles.close()
        cache.close()


def test_a_referee_that_is_also_the_teacher_draws_a_warning():
    same = [f"{r}.{k}={v}" for r in ("teacher", "referee", "generator")
            for k, v in (("backend", "openai"), ("model", "gpt-4o-mini"))]
    assert "teacher, referee and generator are the same model ('gpt-4o-mini')" in shared_model_warning(load_config(None, same))
    two = [*same, "generator.model=gpt-4o"]
    assert "teacher and referee are the same model" in shared_model_warning(load_config(None, two))
    assert shared_model_warning(load_config(None, [*same, "referee.model=gpt-4o"])) is None
    assert shared_model_warning(load_config(None, [])) is None  # the arena's roles are separate models


def _unclosed_after(tmp_path, close: bool) -> list[str]:
    """What Python reports as left open once a run's roles, all calling a server, are gone."""
    with arena_server() as server:
        overrides = [f"{r}.{k}={v}" for r in ("teacher", "judge") for k, v in (("backend", "openai"), ("base_url", server.url))]
        cfg = load_config(None, ["threads=1", *overrides])
        cache = ResponseCache(tmp_path / f"{close}.sqlite")
        roles = Roles.from_config(cfg, cache)
        roles.teacher.run([Call([{"role": "user", "content": "What is 2 plus 3?"}])], "teacher")
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            if close:
                roles.close()
                roles.close()  # a second close is harmless
                assert roles.teacher.loop.is_closed()
            del roles
            gc.collect()
        cache.close()
    return [str(w.message) for w in seen if "nclosed" in str(w.message)]


def test_closing_the_roles_releases_every_connection_and_may_be_repeated(tmp_path):
    assert _unclosed_after(tmp_path, close=True) == []
    assert _unclosed_after(tmp_path, close=False)  # the check can tell: left open, aiohttp says so
