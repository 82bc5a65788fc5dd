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
never change the answer; every bound is an upper bound on the LCS by the tokens an item
shares with the text, counted with multiplicity, read from an inverted index:
  - `above(text, t)` answers the filter's question, "which item scores highest, if any scores
    above t", and `novel(items, t)` answers it for many texts in order, each against the pool
    and the texts kept before it, in a few array operations for all of them. An item of length
    n can only score above t with an LCS of at least need(n) (lengths where even a full match
    cannot pass are skipped). With the text's tokens in order of rarity, an item that holds
    none of the first ones shares at most the rest; so only the lists of the rarest tokens are
    read, up to where the rest falls below need(n) (prefix filtering), plus a slack that grows
    with the text's length. An item read from those lists shares at most the tokens it holds
    among them plus the rest; then every token of the item is counted, and only the items
    that hold enough of the text's tokens to pass are scored (in a small vocabulary most items
    hold the rarest tokens read, and this second count drops nearly all of them);
  - `any_above(text, t)` answers only whether some item scores above t, from the same items
    as `above`, scored a block at a time until one does;
  - `nearest(text)` answers exactly, however low the best score: items are scored in order of
    falling upper bound (their shared tokens, read from the lists of all the text's tokens),
    and the search stops when no remaining bound can beat the best score found.
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections import defaultdict
from typing import NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

_TOKEN = re.compile(r"[a-z0-9]+")
_SPACES = bytes(c if chr(c) in "abcdefghijklmnopqrstuvwxyz0123456789\x00" else 32 for c in range(256))
_SEPARATOR = -2
_BLOCK = 4096  # items whose LCS is computed in one compiled call, in `nearest`
_FIRST_BLOCK = 128  # items `any_above` takes first; each later block is twice the last, until one holds a hit
_TAIL = 256  # items compared in full before they are indexed
_SLACK = 16  # a text of m tokens reads the lists of 1 + m // 16 tokens more than prefix filtering must, to tighten its bound
_SCRATCH = 1 << 22  # (text, item) counters a probe holds at once; texts are probed in chunks of this many pairs
_BAG_CHUNK = 1 << 16  # (text, item) pairs whose shared tokens are counted at once


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


def _fmeasures(lcs: np.ndarray, n_target: np.ndarray | int, n_prediction: np.ndarray) -> np.ndarray:
    """`fmeasure` over arrays; numpy's float64 operations round as Python's do, in the same order."""
    lcs = np.asarray(lcs, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # empty texts give 0/0, set to 0 below
        precision = lcs / n_prediction
        recall = lcs / n_target
        total = precision + recall
        out = 2 * precision * recall / total
    return np.where(total > 0, out, 0.0)


def rouge_l(target: str, prediction: str) -> float:
    a, b = tokenize(target), tokenize(prediction)
    return fmeasure(LCSseq.similarity(a, b) if a and b else 0, len(a), len(b))


def _ranges(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The positions first[i] .. last[i] - 1 of every i, one run after another."""
    sizes = last - first
    ends = np.cumsum(sizes)
    return np.repeat(first - (ends - sizes), sizes) + np.arange(ends[-1] if len(ends) else 0)


class _Needs:
    """For one threshold and the text lengths at hand: which item lengths n can score above the
    threshold against a text of m tokens, and the least LCS each needs, need(m, n), found with
    the F-measure's own arithmetic. For each m the lengths form one window n_lo..n_hi, and the
    need never falls as n grows (F falls with n for a fixed LCS). Rows are stored one after
    another, each only as wide as its window, so that one long text costs little."""

    def __init__(self, lengths: np.ndarray, threshold: float):
        self.ms = ms = np.unique(lengths)
        # a window a little wider than t*m/(2-t) < n < m*(2-t)/t, where a full match can pass
        lo = np.maximum(1, np.floor(ms * threshold / (2 - threshold)).astype(np.int64) - 1)
        hi = np.floor(ms * (2 - threshold) / threshold).astype(np.int64) + 1
        self._lo, self._off = lo, np.concatenate([[0], np.cumsum(hi - lo + 1)])
        row = np.repeat(np.arange(len(ms)), hi - lo + 1)
        m, n = ms[row], _ranges(lo, hi + 1)
        top = np.minimum(m, n)
        fits = _fmeasures(top, m, n) > threshold
        guess = np.floor(threshold * (m + n) / 2).astype(np.int64)
        need = np.zeros(len(n), dtype=np.int64)
        for step in range(-2, 3):  # the least passing LCS lies within two of t * (m + n) / 2
            lcs = np.clip(guess + step, 1, np.maximum(top, 1))
            need = np.where((need == 0) & (_fmeasures(lcs, m, n) > threshold), lcs, need)
        self._need = np.where(fits, need, np.iinfo(np.int32).max)
        self.n_lo = np.full(len(ms), np.iinfo(np.int64).max)  # an empty window: n_lo > n_hi
        self.n_hi = np.zeros(len(ms), dtype=np.int64)
        np.minimum.at(self.n_lo, row[fits], n[fits])
        np.maximum.at(self.n_hi, row[fits], n[fits])
        # reach(r, v): how many lengths from n_lo on need at most v tokens, v < m + slack + 2
        width = ms + 2
        self._roff = np.concatenate([[0], np.cumsum(width)])
        counts = np.zeros(int(self._roff[-1]), dtype=np.int64)
        np.add.at(counts, self._roff[row[fits]] + self._need[fits], 1)
        total = np.cumsum(counts)
        self._reach = total - np.repeat(np.concatenate([[0], total[self._roff[1:-1] - 1]]), width)
        self._width = width

    def row(self, m: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ms, m)

    def need(self, row: np.ndarray, n: np.ndarray) -> np.ndarray:
        """need(m, n) for lengths n inside row's window."""
        return self._need[self._off[row] + n - self._lo[row]]

    def reach(self, row: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._reach[self._roff[row] + np.minimum(v, self._width[row] - 1)]

    @property
    def longest(self) -> int:
        return int(self.ms[-1])


class _Texts(NamedTuple):
    """Texts to look up, tokenized: one row per distinct (text, token), ordered by text."""

    m: np.ndarray  # tokens in each text, known to the pool or not
    text: np.ndarray  # per row: the text
    tids: np.ndarray  # per row: the token, as the pool numbers it
    mult: np.ndarray  # per row: how often the text holds it
    chars: list[str]  # each text's known tokens in order, as characters


class _Segment:
    """An immutable inverted index over the items lo..hi-1: per token, the items holding it,
    sorted by item length and then by item, with how often each holds it."""

    def __init__(self, lo: int, hi: int, flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray, vocab: int):
        self.lo, self.hi, self.vocab = lo, hi, vocab
        ids = flat[starts[lo] : starts[hi]].astype(np.int64)
        item = np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(starts[lo : hi + 1]))
        self.span = int(lengths[lo:hi].max()) + 1 if hi > lo else 1
        count = max(1, hi - lo)
        key = (ids * self.span + lengths[lo:hi][item]) * count + item  # sorts by token, length, item
        unique, counts = np.unique(key, return_counts=True)
        self.counts = counts.astype(np.int32)
        self.items = (unique % count).astype(np.int64)  # relative to lo
        self.keys = unique // count  # token * span + item length, sorted
        self.lens = (self.keys % self.span).astype(np.int64)
        self.ptr = np.searchsorted(self.keys // self.span, np.arange(vocab + 1))
        self._hits: np.ndarray | None = None  # per (text, item) of a chunk: tokens shared among those read

    @property
    def size(self) -> int:
        return self.hi - self.lo

    def _held(self, t: _Texts, rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The rows' tokens that occur in this segment, each text's rarest first: texts, tokens,
        multiplicities and where the tokens' lists start."""
        text, tids, mult = t.text[rows], t.tids[rows], t.mult[rows]
        known = tids < self.vocab
        text, tids, mult = text[known], tids[known], mult[known]
        first = self.ptr[tids]
        df = self.ptr[tids + 1] - first
        order = np.lexsort((df, text))
        order = order[df[order] > 0]
        return text[order], tids[order], mult[order], first[order]

    def probe(self, t: _Texts, needs: _Needs, before: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(texts, items): the pairs that can still score above the threshold `needs` was made
        for; with `before`, only items numbered below their text (a batch against itself).

        With a text's held tokens rarest first and rest(j) of them from the j-th on, token j's
        list is read for the item lengths n with need(n) <= rest(j) + slack. An item of length n
        read from tokens 0..J-1, holding `hits` of them, shares at most hits + rest(J) tokens
        with the text; an item never read holds none of them, and rest(J) < need(n) - slack.
        """
        found = []
        per_chunk = max(1, _SCRATCH // max(1, self.size))
        bounds = np.searchsorted(t.text, np.arange(0, len(t.m) + per_chunk, per_chunk))
        for a, b in itertools.pairwise(bounds):
            if b > a:
                found.append(self._probe_rows(t, slice(a, b), needs, before))
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])

    def _probe_rows(self, t: _Texts, rows: slice, needs: _Needs, before: bool) -> tuple[np.ndarray, np.ndarray]:
        none = np.zeros(0, dtype=np.int64)
        text, tids, mult, _ = self._held(t, rows)
        if len(text) == 0:
            return none, none
        end = np.searchsorted(text, text, "right")  # where each row's text ends
        suffix = np.append(np.cumsum(mult[::-1])[::-1], 0)
        rest = suffix[:-1] - suffix[end]
        row = needs.row(t.m[text])
        n_lo = needs.n_lo[row]
        c0 = int(text[0])
        slack = 1 + t.m[text] // _SLACK
        top = n_lo + needs.reach(row, rest + slack) - 1
        # For each text and length n of its window: how many shared tokens an item of length n
        # must hold among those read for n, need(n) minus the rest at the text's first row that
        # is not read for n (none when every row is). The key orders rows by text, then by
        # falling rest, and one text's keys never reach the next one's.
        first_row = np.flatnonzero(np.diff(text, prepend=-1))
        width = np.maximum(0, needs.n_hi[row[first_row]] - n_lo[first_row] + 1)
        w_text, w_row, w_end = (np.repeat(x[first_row], width) for x in (text, row, end))
        n = _ranges(n_lo[first_row], n_lo[first_row] + width)
        need = needs.need(w_row, n)
        scale = 2 * needs.longest + 3
        j = np.searchsorted(text * scale - rest, w_text * scale + np.repeat(slack[first_row], width) - need, "right")
        short = need - np.where(j < w_end, np.append(rest, 0)[j], 0)
        base = np.repeat(np.cumsum(width) - width, np.diff(np.append(first_row, len(text)))) - n_lo  # + n: where a row's text has length n
        top = np.minimum(top, self.span - 1)  # no item is longer; a key past it would be the next token's
        read = top >= n_lo  # each text's rarest tokens: rest falls along a text's rows
        first = np.searchsorted(self.keys, tids[read] * self.span + n_lo[read])
        last = np.searchsorted(self.keys, tids[read] * self.span + top[read], "right")
        sizes = last - first
        at = _ranges(first, last)
        pair = np.repeat((text[read] - c0) * self.size, sizes) + self.items[at]
        shared = np.minimum(self.counts[at], np.repeat(mult[read], sizes))
        least = short[np.repeat(base[read], sizes) + self.lens[at]]
        if before:
            keep = pair % self.size + self.lo < pair // self.size + c0
            pair, shared, least = pair[keep], shared[keep], least[keep]
        if self._hits is None:
            self._hits = np.zeros(max(_SCRATCH, self.size), dtype=np.int32)  # zero between probes
        hits = self._hits
        np.add.at(hits, pair, shared)
        passing = np.unique(pair[hits[pair] >= least])
        hits[pair] = 0
        return passing // self.size + c0, passing % self.size + self.lo

    def shared(self, t: _Texts) -> tuple[np.ndarray, np.ndarray]:
        """(items, shared) for a single text: every item holding one of its tokens, and how many
        tokens it shares with the text, counted with multiplicity."""
        _, tids, mult, first = self._held(t, slice(None))
        last = self.ptr[tids + 1]
        at = _ranges(first, last)
        items, where = np.unique(self.items[at], return_inverse=True)
        shared = np.bincount(where, weights=np.minimum(self.counts[at], np.repeat(mult, last - first)), minlength=len(items))
        return items + self.lo, shared.astype(np.int64)


class NoveltyIndex:
    """An incremental pool of texts that answers how close a text is to its nearest items.

    A text is novel when its highest ROUGE-L against the pool is not above the threshold; the
    reference implementations reject only scores strictly above it (0.7 by default).

    Items live in at most two immutable segments (inverted indexes) and a short tail that is
    compared in full, so adding one item at a time costs little and a lookup reads little.
    """

    def __init__(self, workers: int = 1) -> None:
        self._workers = workers  # threads that compute LCS
        # token -> id, numbering a new token as it is looked up; the separator of texts
        # tokenized together is in it as a word that no text holds
        self._vocab: defaultdict[bytes, int] = defaultdict()
        self._vocab.default_factory = self._vocab.__len__
        self._vocab[b"\x00"] = _SEPARATOR
        self._keys: list[str] = []
        self._texts: list[str] = []  # each item's tokens as characters, for rapidfuzz
        self._length = array("i")
        self._flat = array("i")  # every item's token ids, one after another
        self._starts = array("q", [0])
        self._segments: list[_Segment] = []

    def __len__(self) -> int:
        return len(self._keys)

    def key(self, index: int) -> str:
        return self._keys[index]

    def add(self, key: str, text: str) -> None:
        self.add_many([(key, text)])

    def add_many(self, items: list[tuple[str, str]]) -> None:
        """Add many items at once; cheaper than one by one, the same index."""
        if not items:
            return
        ids, starts = self._tokens([text for _, text in items], learn=True)
        self._extend([key for key, _ in items], ids, starts)

    @property
    def _indexed(self) -> int:
        return self._segments[-1].hi if self._segments else 0

    def _tokens(self, texts: list[str], learn: bool) -> tuple[np.ndarray, np.ndarray]:
        """Every text's token ids, one text after another, and where each text starts. A token
        the pool has never seen is numbered when `learn`, else -1.

        The texts are tokenized together, as `tokenize` would one by one: lower-cased (which
        maps each character on its own: the one rule that reads context, a final sigma, yields
        no [a-z0-9]), then every character but [a-z0-9] made a space, non-ASCII ones by way of
        "?", and split; the texts are joined by a NUL, which is kept as a word of its own.
        """
        joined = "\x00".join(texts)
        if joined.count("\x00") != len(texts) - 1:  # a text holds the separator, which is no token
            joined = "\x00".join(t.replace("\x00", " ") for t in texts)
        words = joined.lower().encode("ascii", "replace").translate(_SPACES).replace(b"\x00", b" \x00 ").split()
        words.append(b"\x00")
        vocab = self._vocab
        found = map(vocab.__getitem__, words) if learn else map(vocab.get, words, itertools.repeat(-1))
        flat = np.fromiter(found, dtype=np.int64, count=len(words))
        ends = np.flatnonzero(flat == _SEPARATOR)
        starts = np.concatenate([[0], ends[:-1] - np.arange(len(ends) - 1)])
        return flat[flat != _SEPARATOR], np.append(starts, len(flat) - len(ends))

    def _strings(self, ids: np.ndarray, starts: np.ndarray) -> list[str]:
        """Each text's token ids as a string of characters, for rapidfuzz."""
        codes = ids + 0x100
        codes[codes >= 0xD800] += 0x800  # skip the surrogate range
        whole = codes.astype("<u4").tobytes().decode("utf-32-le")
        bounds = starts.tolist()
        return [whole[a:b] for a, b in itertools.pairwise(bounds)]

    def _extend(self, keys: list[str], ids: np.ndarray, starts: np.ndarray) -> None:
        self._keys.extend(keys)
        self._texts.extend(self._strings(ids, starts))
        self._length.extend(np.diff(starts).astype(np.int32).tolist())
        base = len(self._flat)
        self._flat.frombytes(ids.astype(np.int32).tobytes())
        self._starts.frombytes((starts[1:] + base).astype(np.int64).tobytes())
        if len(self._keys) - self._indexed >= _TAIL:
            self._seal()

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

    def _lookup(self, ids: np.ndarray, starts: np.ndarray) -> _Texts:
        """Texts as the index looks them up. A token the pool has never seen (-1) matches no
        item: it leaves the LCS's input, and still counts in the text's length."""
        m = np.diff(starts)
        text = np.repeat(np.arange(len(m)), m)
        known = ids >= 0
        text, ids = text[known], ids[known]
        rows, mult = np.unique(text * (len(self._vocab) + 1) + ids, return_counts=True)
        known_starts = np.concatenate([[0], np.cumsum(np.bincount(text, minlength=len(m)))])
        return _Texts(m, rows // (len(self._vocab) + 1), rows % (len(self._vocab) + 1), mult.astype(np.int32),
                      self._strings(ids, known_starts))

    def _scores(self, t: _Texts, texts: np.ndarray, item_chars: list[str], item_lengths: np.ndarray) -> np.ndarray:
        """ROUGE-L of each (text, item) pair, given the items' characters and lengths."""
        lcs = process.cpdist([t.chars[i] for i in texts.tolist()], item_chars, scorer=LCSseq.similarity, dtype=np.int32,
                             workers=self._workers)
        return _fmeasures(lcs, t.m[texts], item_lengths)

    def _candidates(self, t: _Texts, needs: _Needs) -> tuple[np.ndarray, np.ndarray]:
        """(texts, items): the pairs of a text and a pool item that could score above the
        threshold `needs` was made for; every other pair cannot."""
        texts, items = self._probed(t, needs)
        keep = self._sharing(t, needs, texts, items)
        return texts[keep], items[keep]

    def _probed(self, t: _Texts, needs: _Needs) -> tuple[np.ndarray, np.ndarray]:
        """The pairs the inverted lists leave, before their shared tokens are counted."""
        pairs = [seg.probe(t, needs) for seg in self._segments]
        tail = self._tail()
        if len(tail):  # every pair of a text and a tail item of a length in its window
            row = needs.row(t.m)
            length = np.frombuffer(self._length, dtype=np.int32)[tail]
            fits = (length[None, :] >= needs.n_lo[row][:, None]) & (length[None, :] <= needs.n_hi[row][:, None])
            texts, at = np.nonzero(fits)
            pairs.append((texts, tail[at]))
        texts = np.concatenate([p[0] for p in pairs] + [np.zeros(0, dtype=np.int64)]).astype(np.int64)
        return texts, np.concatenate([p[1] for p in pairs] + [np.zeros(0, dtype=np.int64)]).astype(np.int64)

    def _sharing(self, t: _Texts, needs: _Needs, texts: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Which pairs hold enough shared tokens to pass: each token of the item that the text
        also holds counts (as often as the item holds it, an upper bound on the LCS), against
        need(m, n). Read from the items' own tokens, a few dozen per pair."""
        keep = np.zeros(len(texts), dtype=bool)
        known = t.text * (len(self._vocab) + 1) + t.tids  # as `_lookup` made the rows: sorted
        if len(known) == 0:
            return keep
        flat, starts = np.frombuffer(self._flat, dtype=np.int32), np.frombuffer(self._starts, dtype=np.int64)
        if len(t.m) == 1:  # one text: a table of its tokens
            holds = np.zeros(len(self._vocab) + 1, dtype=bool)
            holds[t.tids] = True
        for a in range(0, len(texts), _BAG_CHUNK):
            text, item = texts[a : a + _BAG_CHUNK], items[a : a + _BAG_CHUNK]
            n = starts[item + 1] - starts[item]
            tokens = flat[_ranges(starts[item], starts[item + 1])]
            if len(t.m) == 1:
                held = holds[tokens]
            else:
                key = np.repeat(text, n) * (len(self._vocab) + 1) + tokens
                held = known[np.minimum(np.searchsorted(known, key), len(known) - 1)] == key
            shared = np.bincount(np.repeat(np.arange(len(text)), n), weights=held, minlength=len(text))
            keep[a : a + len(text)] = shared >= needs.need(needs.row(t.m[text]), n)
        return keep

    def _against_pool(self, t: _Texts, needs: _Needs, threshold: float) -> list[tuple[float, int] | None]:
        """Per text, its highest score above `threshold` against the pool and the earliest item
        with it, or None."""
        texts, items = self._candidates(t, needs)
        scores = self._scores(t, texts, [self._texts[i] for i in items.tolist()],
                              np.frombuffer(self._length, dtype=np.int32)[items])
        best: list[tuple[float, int] | None] = [None] * len(t.m)
        above = scores > threshold
        texts, items, scores = texts[above], items[above], scores[above]
        order = np.lexsort((items, -scores, texts))  # per text: highest first, earliest among equals
        first = order[np.diff(texts[order], prepend=-1) != 0]
        for text, score, item in zip(texts[first].tolist(), scores[first].tolist(), items[first].tolist()):
            best[text] = (score, item)
        return best

    def above(self, text: str, threshold: float) -> tuple[float, int] | None:
        """The highest ROUGE-L of `text` (the target) and the earliest item with it, when that
        score is above `threshold`; None when no item scores above it."""
        t = self._lookup(*self._tokens([text], learn=False))
        return self._against_pool(t, _Needs(t.m, threshold), threshold)[0]

    def any_above(self, text: str, threshold: float) -> tuple[float, int] | None:
        """Whether any item scores above `threshold` with `text`, answered as `above` answers it,
        but sooner where many do: the items the lists leave are taken a block at a time, earliest
        first, each block twice the last; in each, the items that share enough tokens are scored,
        and the search stops at the first block that holds one above. The score and item
        returned are the best of that block, which need not be the pool's best."""
        t = self._lookup(*self._tokens([text], learn=False))
        needs = _Needs(t.m, threshold)
        items = np.sort(self._probed(t, needs)[1])
        lengths = np.frombuffer(self._length, dtype=np.int32)
        start, size = 0, _FIRST_BLOCK
        while start < len(items):
            block = items[start : start + size]
            block = block[self._sharing(t, needs, np.zeros(len(block), dtype=np.int64), block)]
            start, size = start + size, 2 * size
            if len(block) == 0:
                continue
            scores = self._scores(t, np.zeros(len(block), dtype=np.int64), [self._texts[i] for i in block.tolist()],
                                  lengths[block])
            best = int(np.argmax(scores))  # the first of the highest: the earliest item with it
            if scores[best] > threshold:
                return float(scores[best]), int(block[best])
        return None

    def novel(self, items: list[tuple[str, str]], threshold: float) -> list[tuple[float, int] | None]:
        """Decide texts in order, as one `above` and `add` after another would: for each, its
        highest score above `threshold` against the pool and the texts kept before it, with the
        earliest item (its number in the pool) that has it; None for a novel text, which joins
        the pool under its key."""
        if not items:
            return []
        if len(self._tail()):
            self._seal()  # the texts are checked against indexed items only
        ids, starts = self._tokens([text for _, text in items], learn=True)
        t = self._lookup(ids, starts)
        needs = _Needs(t.m, threshold)
        best = self._against_pool(t, needs, threshold)
        batch = _Segment(0, len(items), ids.astype(np.int32), starts, t.m.astype(np.int32), len(self._vocab))
        later, earlier = batch.probe(t, needs, before=True)
        scores = self._scores(t, later, [t.chars[i] for i in earlier.tolist()], t.m[earlier])
        close: dict[int, list[tuple[int, float]]] = {}  # text -> the earlier texts it is too close to
        above = scores > threshold
        later, earlier, scores = later[above], earlier[above], scores[above]
        for k in np.lexsort((earlier, later)).tolist():
            close.setdefault(int(later[k]), []).append((int(earlier[k]), float(scores[k])))
        number: dict[int, int] = {}  # kept text -> its item number
        for j in range(len(items)):
            for i, score in close.get(j, ()):
                if i in number and (best[j] is None or score > best[j][0]):
                    best[j] = (score, number[i])
            if best[j] is None:
                number[j] = len(self._keys) + len(number)
        kept = np.fromiter(number, dtype=np.int64, count=len(number))
        sizes = t.m[kept]
        self._extend([items[j][0] for j in kept.tolist()], ids[_ranges(starts[kept], starts[kept] + sizes)],
                     np.concatenate([[0], np.cumsum(sizes)]))
        return best

    def _tail(self) -> np.ndarray:
        return np.arange(self._indexed, len(self._keys), dtype=np.int64)

    def nearest(self, text: str) -> tuple[float, int | None]:
        """The highest ROUGE-L of `text` (the target) against the pool, and the earliest item
        with it, exactly; (0.0, None) when nothing shares a token with it."""
        t = self._lookup(*self._tokens([text], learn=False))
        m = int(t.m[0])
        if m == 0 or len(t.tids) == 0:
            return 0.0, None
        bounds = [seg.shared(t) for seg in self._segments]
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
            lcs = process.cdist([t.chars[0]], [self._texts[i] for i in block.tolist()], scorer=LCSseq.similarity, dtype=np.int32,
                                workers=self._workers)[0]
            scores = _fmeasures(lcs, m, np.frombuffer(self._length, dtype=np.int32)[block])
            for i in np.flatnonzero(scores >= best):
                item, score = int(block[i]), float(scores[i])
                if score > best or (score == best and score > 0 and (best_item is None or item < best_item)):
                    best, best_item = score, item
        return (best, best_item) if best_item is not None else (0.0, None)
