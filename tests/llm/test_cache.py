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
    assert c.spend()["total"] == {"calls": 1, "prompt_tokens": 3, "completion_tokens": 1, "cost_usd": 0.5}
