import pytest

from lion.similarity import NoveltyPool, rouge_l, tokenize


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


def test_pool_reports_nearest_and_threshold_is_strict():
    pool = NoveltyPool()
    pool.add("x", "a b c d e f g h i j")
    pool.add("y", "completely different words here")
    score, key = pool.nearest("a b c d e f g z z z")  # LCS 7 of 10 and 10: exactly 0.7
    # the same float operations as rouge_score, so the threshold decision is the same
    assert key == "x" and score == 2 * 0.7 * 0.7 / (0.7 + 0.7)
    assert pool.nearest("") == (0.0, None)
