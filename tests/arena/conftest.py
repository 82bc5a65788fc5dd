"""Shared helpers for the arena tests."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
from rapidfuzz import process
from rapidfuzz.distance import LCSseq


def _tokens(text: str) -> list[str]:
    """rouge_score's tokenisation without stemming: lower-case runs of letters and digits."""
    return re.findall(r"[a-z0-9]+", text.lower())


def rouge_l_max(candidates: list[str], pool: list[str]) -> list[float]:
    """Each candidate's highest ROUGE-L F-measure against the pool (0 for empty texts)."""
    cand, ref = [_tokens(c) for c in candidates], [_tokens(p) for p in pool]
    lcs = process.cdist(cand, ref, scorer=LCSseq.similarity)
    total = np.array([len(c) for c in cand])[:, None] + np.array([len(r) for r in ref])[None, :]
    return list((2 * lcs / np.maximum(total, 1)).max(axis=1))


@pytest.fixture
def rouge_max() -> Callable[[list[str], list[str]], list[float]]:
    return rouge_l_max
