"""ROUGE-L F-measure with `rouge_score`'s tokenisation and arithmetic, and a pool to test novelty.

Tokens are lower-cased runs of [a-z0-9] with no stemming, as `rouge_score` does by default; the
F-measure is computed in the same floating-point order (precision, recall, then 2pr/(p+r)) so a
pair at the threshold lands on the same side. The longest common subsequence runs in compiled
code (`rapidfuzz`) on token-id sequences.
"""

from __future__ import annotations

import re

from rapidfuzz.distance import LCSseq

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _fmeasure(lcs: int, n_target: int, n_prediction: int) -> float:
    if n_target == 0 or n_prediction == 0:
        return 0.0
    precision = lcs / n_prediction
    recall = lcs / n_target
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def rouge_l(target: str, prediction: str) -> float:
    a, b = tokenize(target), tokenize(prediction)
    return _fmeasure(LCSseq.similarity(a, b) if a and b else 0, len(a), len(b))


class NoveltyPool:
    """Instructions seen so far; answers "how close is this text to the nearest one, and which".

    A candidate is novel when its highest ROUGE-L against the pool is not above the threshold
    (the reference implementations reject only scores strictly above 0.7).
    """

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._items: list[tuple[str, list[int]]] = []

    def _ids(self, text: str) -> list[int]:
        return [self._vocab.setdefault(t, len(self._vocab)) for t in tokenize(text)]

    def __len__(self) -> int:
        return len(self._items)

    def add(self, key: str, text: str) -> None:
        self._items.append((key, self._ids(text)))

    def nearest(self, text: str) -> tuple[float, str | None]:
        cand = self._ids(text)
        best, best_key = 0.0, None
        if not cand:
            return best, best_key
        for key, toks in self._items:
            if not toks:
                continue
            score = _fmeasure(LCSseq.similarity(toks, cand), len(toks), len(cand))
            if score > best:
                best, best_key = score, key
        return best, best_key
