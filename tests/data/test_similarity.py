"""ROUGE-L and the novelty index: bit-identical to `rouge_score`, and exact against brute force."""

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz.distance import LCSseq

from lion.data.similarity import NoveltyIndex, _Needs, fmeasure, rouge_l, tokenize

DATA = Path(__file__).parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent: the shared data sets sit beside the clone")


def shared_texts() -> list[str]:
    texts = []
    for name in ("self_instruct_seed_tasks.jsonl", "self_instruct_user_oriented.jsonl",
                 "vicuna_bench_questions.jsonl", "mt_bench_questions.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            texts += rec.get("turns", [])
            texts.append(rec.get("instruction", ""))
            for inst in rec.get("instances", []):
                texts += [inst.get("input", ""), inst.get("output", "")]
    return [t for t in texts if t]


def mutate(text: str, rng: random.Random, words: list[str]) -> str:
    w = text.split()
    for _ in range(rng.randint(0, 5)):
        op = rng.random()
        if op < 0.25 and w:
            w.pop(rng.randrange(len(w)))
        elif op < 0.5:
            w.insert(rng.randrange(len(w) + 1), rng.choice(words))
        elif op < 0.7 and w:
            w[rng.randrange(len(w))] = rng.choice(words)
        elif op < 0.8:
            w.insert(rng.randrange(len(w) + 1), rng.choice(["é", "Ünïcödé", "数据", "🙂", "naïve", "İstanbul", "ǅ"]))
        elif op < 0.9:
            w.insert(rng.randrange(len(w) + 1), rng.choice(["!!", "...", "--", "?", "(", "'s"]))
        else:
            w = [x.upper() for x in w]
    return " ".join(w)


def at_threshold(rng: random.Random, m: int, n: int, lcs: int) -> tuple[str, str]:
    """A pair whose LCS is exactly `lcs` (2*lcs/(m+n) = 0.7 for the sizes used)."""
    shared = [f"s{i}" for i in range(lcs)]

    def spread(own: list[str]) -> str:  # the shared tokens in order, the others anywhere between
        out = list(shared)
        for tok in own:
            out.insert(rng.randrange(len(out) + 1), tok)
        return " ".join(out)

    return spread([f"a{i}" for i in range(m - lcs)]), spread([f"b{i}" for i in range(n - lcs)])


def test_tokenize_like_rouge_score():
    assert tokenize("What's the CAPITAL of Côte d'Ivoire? 42!") == ["what", "s", "the", "capital", "of", "c", "te", "d", "ivoire", "42"]


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("the cat sat", "the cat sat", 1.0),
        ("", "anything", 0.0),
        ("!!!", "???", 0.0),
        ("a b c d", "a x c y", 0.5),
        ("what is the capital of france", "what is the capital of peru", 2 * (5 / 6) * (5 / 6) / (5 / 6 + 5 / 6)),
    ],
)
def test_rouge_l(a, b, expected):
    assert rouge_l(a, b) == expected


@needs_data
def test_bit_identical_to_rouge_score_on_ten_thousand_pairs():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(7)
    every = shared_texts()
    texts = [t for t in every if len(t) <= 300]  # the reference's LCS is pure Python: keep most pairs short
    words = [w for t in texts for w in t.split()]
    pairs = [(rng.choice(texts), rng.choice(texts)) for _ in range(2000)]
    for _ in range(7000):
        t = rng.choice(texts)
        pairs.append((mutate(t, rng, words), mutate(t, rng, words)))
    pairs += [("", t) for t in texts[:200]] + [(t, "") for t in texts[200:400]]
    pairs += [("?!... --", t) for t in texts[:100]] + [("数据 🙂", "数据 🙂")] * 5
    pairs += [(" ".join(rng.sample(every, 8)), " ".join(rng.sample(every, 8))) for _ in range(3)]  # very long
    for m, n, lcs in [(10, 10, 7), (20, 20, 14), (7, 13, 7), (15, 25, 14), (30, 30, 21), (11, 9, 7)] * 120:
        pairs.append(at_threshold(rng, m, n, lcs))
    assert len(pairs) >= 10_000
    on_threshold = 0
    for target, prediction in pairs:
        want = scorer.score(target, prediction)["rougeL"].fmeasure
        got = rouge_l(target, prediction)
        assert got == want and type(got) is float, (target[:80], prediction[:80], got, want)
        a, b = tokenize(target), tokenize(prediction)
        on_threshold += round(2 * LCSseq.similarity(a, b) / max(1, len(a) + len(b)), 12) == 0.7
    assert on_threshold >= 700  # the pairs at exactly 0.7, where the arithmetic's order decides


def reference_filter(seeds: list[str], candidates: list[str], threshold: float = 0.7) -> list[tuple[bool, float]]:
    """The official scripts' loop: `rouge_score` against every instruction kept so far."""
    from rouge_score import rouge_scorer

    tok = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)._tokenizer
    pool = [tok.tokenize(s) for s in seeds]
    out = []
    for c in candidates:
        ct = tok.tokenize(c)
        best = max((rouge_scorer._score_lcs(ct, p).fmeasure for p in pool), default=0.0)
        keep = best <= threshold
        if keep:
            pool.append(ct)
        out.append((keep, best))
    return out


@needs_data
def test_keep_and_drop_decisions_match_the_official_loop_on_a_growing_pool():
    rng = random.Random(11)
    texts = [t for t in shared_texts() if len(t) < 300]
    words = [w for t in texts for w in t.split()]
    seeds = texts[:120]
    candidates = [mutate(rng.choice(texts), rng, words) for _ in range(200)] + ["", "!!!", seeds[3]]
    want = reference_filter(seeds, candidates)
    index = NoveltyIndex()
    for i, s in enumerate(seeds):
        index.add(f"seed {i}", s)
    got = []
    for i, c in enumerate(candidates):
        score, _ = index.nearest(c)
        keep = score <= 0.7
        if keep:
            index.add(f"new {i}", c)
        got.append((keep, score))
    assert got == want
    assert 20 < sum(not k for k, _ in want) < len(want) - 20  # both decisions are exercised
    batch = NoveltyIndex()
    batch.add_many([(f"seed {i}", s) for i, s in enumerate(seeds)])
    hits = batch.novel([(f"new {i}", c) for i, c in enumerate(candidates)], 0.7)
    assert [(h is None, score if h is None else h[0]) for h, (_, score) in zip(hits, want)] == want


def test_tokenizing_many_texts_at_once_tokenizes_each_as_tokenize_does():
    rng = random.Random(5)
    words = ["Write", "İstanbul", "ΟΔΟΣ", "naïve", "数据", "🙂", "x\x00y", "Kelvin\u212a", "a-b", "42", "", "\n"]
    texts = ["", "\x00", "ΣΑΣ'", *(" ".join(rng.choice(words) for _ in range(rng.randint(0, 9))) for _ in range(300))]
    index = NoveltyIndex()
    ids, starts = index._tokens(texts, learn=True)
    word = {i: w.decode() for w, i in index._vocab.items()}
    got = [[word[i] for i in ids[a:b]] for a, b in itertools.pairwise(starts)]
    assert got == [tokenize(t) for t in texts]


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.71, 1.0])
def test_least_lcs_of_every_length_pair_is_found_with_the_fmeasure_itself(threshold):
    lengths = np.array([0, 1, 2, 3, 5, 7, 10, 13, 20, 33, 60])
    needs = _Needs(lengths, threshold)
    for m in lengths.tolist():
        r = needs.row(np.array([m]))
        passing = {n: min(k for k in range(1, min(m, n) + 1) if fmeasure(k, m, n) > threshold)
                   for n in range(1, 8 * m + 10) if fmeasure(min(m, n), m, n) > threshold}
        if not passing:
            assert needs.n_lo[r][0] > needs.n_hi[r][0]
            continue
        assert (needs.n_lo[r][0], needs.n_hi[r][0]) == (min(passing), max(passing))
        assert needs.need(np.repeat(r, len(passing)), np.array(list(passing))).tolist() == list(passing.values())
        for v in range(m + 4):
            assert needs.reach(r, np.array([v]))[0] == sum(need <= v for need in passing.values())


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_deciding_a_batch_equals_one_lookup_after_another(threshold):
    rng = random.Random(int(threshold * 10))
    vocab = [f"w{i}" for i in range(200)] + ["the", "a", "of", "write", "list"] * 30
    pool = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 14))) for _ in range(1500)]
    batch = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 14))) for _ in range(300)]
    batch += [t + " new" * rng.randint(0, 2) for t in rng.sample(batch, 60)]  # close to texts of the batch
    batch += rng.sample(pool, 20) + ["", "unseen words only", "unseen words only"] + ["z " * 300]
    rng.shuffle(batch)
    one_by_one, together = NoveltyIndex(), NoveltyIndex()
    one_by_one.add_many([(str(i), t) for i, t in enumerate(pool[:1000])])
    together.add_many([(str(i), t) for i, t in enumerate(pool[:1000])])
    for i, t in enumerate(pool[1000:]):  # a tail not yet indexed
        one_by_one.add(str(1000 + i), t)
        together.add(str(1000 + i), t)
    want = []
    for j, text in enumerate(batch):
        hit = one_by_one.above(text, threshold)
        if hit is None:
            one_by_one.add(f"b{j}", text)
        want.append(hit)
    assert together.novel([(f"b{j}", t) for j, t in enumerate(batch)], threshold) == want
    assert [together.key(i) for i in range(len(together))] == [one_by_one.key(i) for i in range(len(one_by_one))]
    assert 0 < sum(h is None for h in want) < len(want)
    assert any(h is not None and h[1] >= len(pool) for h in want)  # some are too close to texts of the batch


def test_the_index_finds_the_exact_best_and_its_earliest_item():
    rng = random.Random(3)
    vocab = [f"w{i}" for i in range(300)] + ["the", "a", "of", "write", "list"] * 40  # common tokens too
    pool = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 14))) for _ in range(2500)]
    pool += pool[:50]  # exact repeats: the earlier copy must be named
    index = NoveltyIndex()
    for i, t in enumerate(pool):
        index.add(str(i), t)
    toks = [tokenize(t) for t in pool]
    for _ in range(300):
        q = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 14)))
        qt = tokenize(q)
        scores = [fmeasure(LCSseq.similarity(qt, p) if qt and p else 0, len(qt), len(p)) for p in toks]
        best = max(scores)
        assert index.nearest(q) == ((best, scores.index(best)) if best > 0 else (0.0, None))
        for threshold in (0.3, 0.5, 0.7):
            assert index.above(q, threshold) == ((best, scores.index(best)) if best > threshold else None)
            some = index.any_above(q, threshold)  # whether one passes, as exactly; which one, any that does
            assert (some is None) == (best <= threshold)
            assert some is None or (threshold < some[0] == scores[some[1]] <= best)


def test_threshold_is_strict_and_keys_are_reported():
    index = NoveltyIndex()
    index.add("x", "a b c d e f g h i j")
    index.add("y", "completely different words here")
    score, item = index.nearest("a b c d e f g z z z")  # LCS 7 of 10 and 10
    assert index.key(item) == "x" and score == 2 * 0.7 * 0.7 / (0.7 + 0.7)
    assert index.nearest("") == (0.0, None) and index.nearest("nothing shared at all") == (0.0, None)
    assert len(index) == 2
