import sqlite3

from lion.core.chat import Completion, Usage
from lion.llm.cache import ResponseCache, request_key


def test_key_depends_on_everything_that_decides_the_answer():
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "decoding": {"t": 0.7}, "sample": 0}
    keys = {request_key(base), request_key({**base, "sample": 1}), request_key({**base, "model": "n"}),
            request_key({**base, "decoding": {"t": 0.2}})}
    assert len(keys) == 4
    assert request_key(dict(reversed(list(base.items())))) == request_key(base)


def test_persists_across_connections(tmp_path):
    c = ResponseCache(tmp_path / "c.sqlite")
    c.put("k", "m", Completion("hello", "length", Usage(3, 1)), role="teacher", stage="1.imitation", cost_usd=0.5)
    c.close()
    c = ResponseCache(tmp_path / "c.sqlite")
    assert c.get("k") == Completion("hello", "length", Usage(3, 1))
    assert c.get("other") is None
    assert c.spend()["total"] == {"calls": 1, "prompt_tokens": 3, "completion_tokens": 1, "cache_read_tokens": 0, "cost_usd": 0.5}


def test_what_was_billed_for_prompts_is_kept_per_role_endpoint_and_model(tmp_path):
    c = ResponseCache(tmp_path / "c.sqlite")
    a = {"role": "teacher", "stage": "1.imitation", "endpoint": "openai:http://x/v1"}
    c.put("k1", "m", Completion("a", usage=Usage(30, 1)), prompt_estimate=10, **a)  # ratio 3, excess 20
    c.put("k2", "m", Completion("b", usage=Usage(110, 1)), prompt_estimate=100, **a)  # ratio 1.1, excess 10
    c.put("k3", "m", Completion("c", usage=Usage(0, 1)), prompt_estimate=10, **a)  # no usage reported: left out
    c.put("k4", "m", Completion("d", usage=Usage(50, 1)), role="teacher")  # no estimate (an older writer): left out
    c.put("k5", "m", Completion("e", usage=Usage(8, 1)), prompt_estimate=10, **{**a, "role": "referee"})
    c.close()
    c = ResponseCache(tmp_path / "c.sqlite", read_only=True)
    rows = {r["role"]: r for r in c.prompt_billing()}
    assert rows["teacher"] == {"role": "teacher", "endpoint": "openai:http://x/v1", "model": "m", "calls": 2,
                               "prompt_tokens": 140, "prompt_estimate": 110, "max_ratio": 3.0, "max_excess": 20}
    assert rows["referee"]["max_ratio"] == 0.8 and rows["referee"]["max_excess"] == -2
    c.close()


def test_a_cache_written_before_prompt_estimates_reads_and_gains_the_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL,"
               " finish_reason TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, role TEXT,"
               " stage TEXT, cost_usd REAL, created REAL)")
    db.execute("INSERT INTO responses VALUES ('k', 'm', 'hi', 'stop', 40, 2, 'teacher', 'before', 0.1, 0)")
    db.commit()
    db.close()
    old = ResponseCache(path, read_only=True)  # `lion estimate --calibrate` and `lion status` write nothing
    assert old.prompt_billing() == [] and old.spent_usd() == 0.1
    old.close()
    c = ResponseCache(path)
    c.put("k2", "m", Completion("x", usage=Usage(40, 1)), role="teacher", endpoint="e", prompt_estimate=20)
    assert [r["calls"] for r in c.prompt_billing()] == [1] and c.get("k") == Completion("hi", "stop", Usage(40, 2))
    c.close()
