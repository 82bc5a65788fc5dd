"""ROUGE-L exactly as `rouge_score` computes it, and an index that finds a text's nearest
neighbours in a large pool without comparing it with most of the pool.

Tokens are lower-cased runs of [a-z0-9] with no stemming (`rouge_score`'s default). The
F-measure follows `rouge_score`'s arithmetic in the same floating-point order: precision
LCS/len(prediction), recall LCS/len(target), then 2*p*r/(p+r). The order matters at the
threshold: 2*LCS/(a+b) = 0.7 can come out of that formula as 0.7000000000000001, and only the
same formula puts a pair on the same side of 0.7 as the reference implementations. As they do,
the new text is the target and the pool item the prediction.

The index computes the longest common subsequence (in compiled code, `rapidfuzz`, on token-id
sequences) only for items that could still matter, and skips the others by bounds that can
never change the answer:
  - `above(text, t)` answers the filter's question, "which item scores highest, if any scores
    above t": an item of length n can only score above t with an LCS of at least `need(n)`,
    so it shares `need(n)` of the text's tokens and must hold one of the text's
    m - need(n) + 1 rarest tokens (prefix filtering through an inverted index kept per item
    length); lengths where even a full match cannot pass t are skipped; the items left are
    bounded once more by how many of their own tokens occur in the text at all, and only
    those that could still pass t are scored;
  - `nearest(text)` answers exactly, however low the best score: items are scored in order of
    falling upper bound (their shared tokens, counted with multiplicity, through the inverted
    index), and the search stops when no remaining bound can beat the best score found.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from array import array
from collections import Counter

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

_TOKEN = re.compile(r"[a-z0-9]+")
_BLOCK = 4096  # items whose LCS is computed in one compiled call
_TAIL = 512  # items compared in full before they are indexed


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def fmeasure(lcs: int, n_target: int, n_prediction: int) -> float:
    """`rouge_score`'s F-measure of an LCS, in its floating-point order."""
    if n_target == 0 or n_prediction == 0:
        return 0.0
    precision = lcs / n_prediction
    recall = lcs / n_target
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def _fmeasures(lcs: np.ndarray, n_target: int, n_prediction: np.ndarray) -> np.ndarray:
    """`fmeasure` over arrays; numpy's float64 operations round as Python's do, in the same order."""
    lcs = lcs.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # empty items give 0/0, set to 0 below
        precision = lcs / n_prediction
        recall = lcs / n_target
        total = precision + recall
        out = 2 * precision * recall / total
    return np.where(total > 0, out, 0.0)


def rouge_l(target: str, prediction: str) -> float:
    a, b = tokenize(target), tokenize(prediction)
    return fmeasure(LCSseq.similarity(a, b) if a and b else 0, len(a), len(b))


def _char(token_id: int) -> str:
    """A token id as one character, so that rapidfuzz's fast string path computes token LCS."""
    code = token_id + 0x100
    return chr(code + 0x800 if code >= 0xD800 else code)  # skip the surrogate range


def _least_lcs(m: int, n: int, threshold: float) -> int | None:
    """The smallest LCS whose F-measure (computed as `rouge_score` does) is above `threshold`
    for lengths m and n, or None when even min(m, n) is not enough."""
    top = min(m, n)
    if fmeasure(top, m, n) <= threshold:
        return None
    lcs = max(1, min(top, math.floor(threshold * (m + n) / 2)))
    while lcs > 1 and fmeasure(lcs - 1, m, n) > threshold:
        lcs -= 1
    while fmeasure(lcs, m, n) <= threshold:
        lcs += 1
    return lcs


@functools.lru_cache(maxsize=4096)
def _needs(m: int, threshold: float) -> tuple[int, tuple[int, ...]]:
    """(n_lo, needs): item lengths n_lo, n_lo + 1, ... that can score above `threshold` against
    a text of m tokens, and the LCS each needs. The lengths form one window, and the need
    never falls as n grows (F falls with n for a fixed LCS)."""
    lengths = [n for n in range(1, math.floor(m * (2 - threshold) / threshold) + 2) if _least_lcs(m, n, threshold)]
    if not lengths:
        return 0, ()
    return lengths[0], tuple(_least_lcs(m, n, threshold) for n in range(lengths[0], lengths[-1] + 1))


class _Segment:
    """An immutable inverted index over the items lo..hi-1: per token, the items holding it,
    sorted by item length and then by item, with how often each holds it."""

    def __init__(self, lo: int, hi: int, flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray, vocab: int):
        self.lo, self.hi = lo, hi
        ids = flat[starts[lo] : starts[hi]].astype(np.int64)
        item = np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(starts[lo : hi + 1]))
        span = int(lengths[lo:hi].max()) + 1 if hi > lo else 1
        count = max(1, hi - lo)
        key = (ids * span + lengths[lo:hi][item]) * count + item  # sorts by token, length, item
        unique, self.counts = np.unique(key, return_counts=True)
        self.items = (unique % count + lo).astype(np.int32)
        rest = unique // count
        self.lens = (rest % span).astype(np.int32)
        self.ptr = np.searchsorted(rest // span, np.arange(vocab + 1))
        self._ptr = self.ptr.tolist()  # Python ints: read once per query token, faster than numpy scalars

    @property
    def size(self) -> int:
        return self.hi - self.lo

    def df(self, tid: int) -> int:
        ptr = self._ptr
        return ptr[tid + 1] - ptr[tid] if tid + 1 < len(ptr) else 0

    def prefix_items(self, known: Counter, m: int, threshold: float) -> np.ndarray:
        """The items that can score above `threshold`: for each length n, those holding one of
        the text's size - need(n) + 1 rarest tokens (the others share too few tokens)."""
        n_lo, needs = _needs(m, threshold)
        held = sorted((df, tid) for tid in known if (df := self.df(tid)))
        size = sum(known[tid] for _, tid in held)
        found, rarer, ptr = [], 0, self._ptr
        for _, tid in held:
            lengths = bisect.bisect_right(needs, size - rarer)  # n_lo .. n_lo + lengths - 1 qualify
            if lengths == 0:
                break
            a, b = ptr[tid], ptr[tid + 1]
            lens = self.lens[a:b]
            i0 = a + np.searchsorted(lens, n_lo, "left")
            i1 = a + np.searchsorted(lens, n_lo + lengths - 1, "right")
            if i1 > i0:
                found.append(self.items[i0:i1])
            rarer += known[tid]
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int32)

    def shared_bound(self, known: Counter) -> tuple[np.ndarray, np.ndarray]:
        """(items, shared): every item holding a token of the text, and how many tokens it shares
        with it counted with multiplicity, an upper bound on their LCS."""
        held, shared = [], []
        for tid, count in known.items():
            if self.df(tid):
                a, b = self._ptr[tid], self._ptr[tid + 1]
                held.append(self.items[a:b])
                shared.append(np.minimum(self.counts[a:b], count))
        if not held:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
        items, where = np.unique(np.concatenate(held), return_inverse=True)
        return items, np.bincount(where, weights=np.concatenate(shared)).astype(np.int64)


class NoveltyIndex:
    """An incremental pool of texts that answers how close a text is to its nearest items.

    A candidate is novel when its highest ROUGE-L against the pool is not above the threshold;
    the reference implementations reject only scores strictly above it (0.7 by default).

    Items live in at most two immutable segments (inverted indexes) and a short tail that is
    compared in full, so adding one item at a time costs little and a query reads little.
    """

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._keys: list[str] = []
        self._texts: list[str] = []  # each item's tokens as characters, for rapidfuzz
        self._length = array("i")
        self._flat = array("i")  # every item's token ids, one after another
        self._starts = array("q", [0])
        self._segments: list[_Segment] = []
        self._in_text = np.zeros(0, dtype=np.int32)  # scratch: 1 for the tokens of the text at hand

    def __len__(self) -> int:
        return len(self._keys)

    def key(self, index: int) -> str:
        return self._keys[index]

    def add(self, key: str, text: str) -> None:
        self._append(key, text)
        if len(self._keys) - self._indexed >= _TAIL:
            self._seal()

    def add_many(self, items: list[tuple[str, str]]) -> None:
        """Add many items at once; cheaper than one by one, the same index."""
        for key, text in items:
            self._append(key, text)
        if len(self._keys) - self._indexed >= _TAIL:
            self._seal()

    @property
    def _indexed(self) -> int:
        return self._segments[-1].hi if self._segments else 0

    def _append(self, key: str, text: str) -> None:
        vocab = self._vocab
        ids = [vocab.setdefault(t, len(vocab)) for t in tokenize(text)]
        self._keys.append(key)
        self._texts.append("".join(map(_char, ids)))
        self._length.append(len(ids))
        self._flat.extend(ids)
        self._starts.append(len(self._flat))

    def _seal(self) -> None:
        """Index the tail. There are at most two segments, a base and the recent items: the
        recent one is rebuilt with the tail, and joins the base once it holds a fifth of all."""
        end = len(self._keys)
        lo = self._segments.pop().lo if len(self._segments) == 2 else self._indexed
        if self._segments and 4 * (end - lo) > self._segments[0].size:
            self._segments[0] = self._segment(self._segments[0].lo, end)
        else:
            self._segments.append(self._segment(lo, end))

    def _segment(self, lo: int, hi: int) -> _Segment:
        return _Segment(lo, hi, np.frombuffer(self._flat, dtype=np.int32), np.frombuffer(self._starts, dtype=np.int64),
                        np.frombuffer(self._length, dtype=np.int32), len(self._vocab))

    def _query(self, text: str) -> tuple[int, Counter, str]:
        """The text's length, its known tokens with counts, and those tokens as characters.

        A token the pool has never seen matches nothing, so it leaves the LCS's input but
        still counts in the text's length.
        """
        tokens = tokenize(text)
        known = [self._vocab[t] for t in tokens if t in self._vocab]
        return len(tokens), Counter(known), "".join(map(_char, known))

    def _scores(self, query: str, m: int, items: np.ndarray) -> np.ndarray:
        lengths = np.frombuffer(self._length, dtype=np.int32)[items]
        lcs = process.cdist([query], [self._texts[i] for i in items], scorer=LCSseq.similarity, dtype=np.int32)[0]
        return _fmeasures(lcs, m, lengths)

    def _tail(self) -> np.ndarray:
        return np.arange(self._indexed, len(self._keys), dtype=np.int32)

    def above(self, text: str, threshold: float) -> tuple[float, int] | None:
        """The highest ROUGE-L of `text` (the target) and the earliest item with it, when that
        score is above `threshold`; None when no item scores above it."""
        m, known, query = self._query(text)
        if m == 0 or not known:
            return None
        items = np.concatenate([seg.prefix_items(known, m, threshold) for seg in self._segments] + [self._tail()])
        items = items[self._could_pass(items, known, m, threshold)]
        best: tuple[float, int] | None = None
        for start in range(0, len(items), _BLOCK):
            block = items[start : start + _BLOCK]
            scores = self._scores(query, m, block)
            top = int(np.argmax(scores))  # the first of the block's best: items are in pool order
            if scores[top] > threshold and (best is None or scores[top] > best[0]):
                best = (float(scores[top]), int(block[top]))
        return best

    def _could_pass(self, items: np.ndarray, known: Counter, m: int, threshold: float) -> np.ndarray:
        """Which `items` could still score above `threshold`, by a second bound on their LCS:
        the number of their tokens that occur in the text at all (never less than the tokens
        they share with it), read from the items' own token lists."""
        if len(items) == 0:
            return np.zeros(0, dtype=bool)
        starts = np.frombuffer(self._starts, dtype=np.int64)
        first = starts[items]
        lengths = (starts[items + 1] - first).astype(np.int32)
        ends = np.cumsum(lengths)
        if ends[-1] == 0:
            return np.zeros(len(items), dtype=bool)
        positions = np.repeat(first - (ends - lengths), lengths) + np.arange(ends[-1])
        if len(self._in_text) < len(self._vocab):
            self._in_text = np.zeros(2 * len(self._vocab), dtype=np.int32)
        tids = list(known)
        self._in_text[tids] = 1  # set for this text only, cleared below
        hits = self._in_text[np.frombuffer(self._flat, dtype=np.int32)[positions]]
        self._in_text[tids] = 0
        shared = np.add.reduceat(hits, ends - lengths)
        shared[lengths == 0] = 0
        return _fmeasures(np.minimum(np.minimum(shared, lengths), m), m, lengths) > threshold

    def nearest(self, text: str) -> tuple[float, int | None]:
        """The highest ROUGE-L of `text` (the target) against the pool, and the earliest item
        with it, exactly; (0.0, None) when nothing shares a token with it."""
        m, known, query = self._query(text)
        if m == 0 or not known:
            return 0.0, None
        bounds = [seg.shared_bound(known) for seg in self._segments]
        tail = self._tail()
        items = np.concatenate([b[0] for b in bounds] + [tail])
        shared = np.concatenate([b[1] for b in bounds] + [np.full(len(tail), m, dtype=np.int64)])
        lengths = np.frombuffer(self._length, dtype=np.int32)[items]
        upper = _fmeasures(np.minimum(np.minimum(shared, lengths), m), m, lengths)
        order = np.lexsort((items, -upper))  # highest bound first, earlier items first among equals
        items, upper = items[order], upper[order]
        best, best_item = 0.0, None
        for start in range(0, len(items), _BLOCK):
            if best_item is not None and upper[start] < best:
                break
            block = items[start : start + _BLOCK]
            scores = self._scores(query, m, block)
            for i in np.flatnonzero(scores >= best):
                item, score = int(block[i]), float(scores[i])
                if score > best or (score == best and score > 0 and (best_item is None or item < best_item)):
                    best, best_item = score, item
        return (best, best_item) if best_item is not None else (0.0, None)
