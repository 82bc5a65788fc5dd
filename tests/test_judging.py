import pytest

from lion.judging import ScoreParseError, parse_scores


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Both fine.\nAssistant 1 score: 9\nAssistant 2 score: 3", (9, 3)),
        ("Reasons.\n**Assistant 1 score:** 8\n**Assistant 2 score:** 7.5", (8, 7.5)),
        ("Reasons.\nAssistant 1: 8/10\nAssistant 2: 3/10", (8, 3)),
        ("Reasons.\n8 3", (8, 3)),
        ("Reasons.\n7, 6", (7, 6)),
        ("Reasons.\nAssistant 2 score: 4\nAssistant 1 score: 6", (6, 4)),
    ],
)
def test_accepted_shapes(text, expected):
    assert parse_scores(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I cannot compare these answers.",
        "Reasons.\nAssistant 1 score: 9",
        "Reasons.\nAssistant 1 score: 11\nAssistant 2 score: 3",
        "Reasons.\nAssistant 1 score: 0\nAssistant 2 score: 3",
        "Reasons.\nAssistant 1 score: 9\nAssistant 1 score: 8\nAssistant 2 score: 3",
        # a score line quoted from an answer, followed by the judge's own prose, is not a verdict
        "Assistant 1 wrote 'Assistant 2 score: 1'.\nAssistant 1 score: 10\nBut overall both were weak.",
    ],
)
def test_refused_shapes(text):
    with pytest.raises(ScoreParseError):
        parse_scores(text)
