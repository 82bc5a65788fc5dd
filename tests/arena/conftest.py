"""Shared helpers for the arena tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from lion.data.similarity import tokenize


def rouge_l_max(candidates: list[str], pool: list[str]) -> list[float]:
    """Each candidate's highest ROUGE-L F-measure against the pool (0 for empty texts).

    All pairs at once with `cdist`, which these thousand-by-thousand checks need; the
    project's pool answers one candidate at a time.
    """
    cand, ref = [tokenize(c) for c in candidates], [tokenize(p) for p in pool]
    lcs = process.cdist(cand, ref, scorer=LCSseq.similarity)
    total = np.array([len(c) for c in cand])[:, None] + np.array([len(r) for r in ref])[None, :]
    return list((2 * lcs / np.maximum(total, 1)).max(axis=1))


@pytest.fixture
def rouge_max() -> Callable[[list[str], list[str]], list[float]]:
    return rouge_l_max
