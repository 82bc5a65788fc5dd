"""Judging pairs in both orders: the mode reported is the one the replies were read in."""

import dataclasses
import zlib

from lion.arena import ArenaChatModel, answer_phrasings, parse, seed_set
from lion.core.chat import Completion, Decoding, Message
from lion.core.config import load_config
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import Role
from lion.llm.judging import PairItem, comparison_messages, judge_pairs
from lion.llm.roles import Roles


class SchemaDropping:
    """An OpenAI-compatible server that takes `response_format` and silently drops it, as some do:
    the arena reviewer behind it answers as if no schema had been sent. `drops` picks the requests
    it drops it for (all of them, or those one replica of a mixed pool serves)."""

    def __init__(self, reviewer: ArenaChatModel, drops=lambda messages: True):
        self.reviewer, self.drops = reviewer, drops

    @property
    def name(self) -> str:
        return self.reviewer.name

    async def complete(self, messages: list[Message], decoding: Decoding, sample: int = 0) -> Completion:
        if self.drops(messages):
            decoding = dataclasses.replace(decoding, json_schema=None)
        return await self.reviewer.complete(messages, decoding, sample)

    async def check(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def one_replica(messages: list[Message]) -> bool:
    return zlib.crc32(messages[-1]["content"].encode()) % 2 == 0


def test_the_reported_mode_is_the_one_the_replies_were_read_in(tmp_path):
    """bias.json and the held-out scores write `Judged.mode` as it is: asked for json, a run whose
    server ignored the schema must say its verdicts were read as text."""
    tasks = [(i, x, parse(i, x)) for i, x in seed_set(12, 3)]
    tasks = [t for t in tasks if t[2] is not None][:6]
    items = [PairItem(f"q{j}", i, x, answer_phrasings(t)[0], "I would rather not say.") for j, (i, x, t) in enumerate(tasks)]
    cfg = load_config(None, ["threads=1", "referee.structured=auto", "referee.decoding.temperature=0",
                             "referee.arena.malformed_rate=0"])
    cache = ResponseCache(tmp_path / "cache.sqlite")
    referee = Roles.from_config(cfg, cache).referee

    def judged(server: str, drops=None):
        model = referee.model if drops is None else SchemaDropping(referee.model, drops)
        role = Role("referee", model, referee.decoding, cache, f"test://{server}", loop=referee.loop)
        return judge_pairs(role, "referee", items, cfg.referee, server)

    try:
        honest, deaf, mixed = judged("honest"), judged("deaf", lambda m: True), judged("mixed", one_replica)
    finally:
        cache.close()
    n = 2 * len(items)
    assert (honest.mode, honest.read_as, honest.notes) == ("json", {"json": n}, [])
    assert (deaf.mode, deaf.read_as) == ("json (ignored by the server: read as text)", {"text": n})
    assert deaf.notes == [f"{n} of {n} replies held no JSON though the schema was sent (the server may ignore "
                          "response_format); their scores were read from text"]
    dropped = sum(one_replica(m) for it in items for m in _both_orders(it))  # what the mixed pool dropped
    assert 0 < dropped < n
    assert mixed.mode == f"json ({dropped} of {n} replies were not JSON: read as text)"
    assert mixed.read_as == {"json": n - dropped, "text": dropped}
    # the verdicts themselves are the same: only how they were written, and so read, differs
    scores = [[(v.a_first, v.b_first) for v in j.verdicts] for j in (honest, deaf, mixed)]
    assert scores[0] == scores[1] == scores[2] and all(v.error is None for v in deaf.verdicts)


def _both_orders(it: PairItem) -> list[list[Message]]:
    return [comparison_messages("referee", "json", it, it.a, it.b), comparison_messages("referee", "json", it, it.b, it.a)]


def test_a_text_mode_run_reports_text(tmp_path):
    cfg = load_config(None, ["threads=1", "referee.structured=text", "referee.arena.malformed_rate=0"])
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        judged = judge_pairs(Roles.from_config(cfg, cache).referee, "referee",
                             [PairItem("q", "What is 2 + 3?", "", "5", "7")], cfg.referee, "text")
    finally:
        cache.close()
    assert (judged.mode, judged.read_as, judged.notes) == ("text", {"text": 2}, [])
