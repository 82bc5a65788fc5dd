import json
import re

from lion.core import progress


def test_a_recorded_bar_is_visible_while_it_runs_and_logged_when_it_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "_SNAPSHOT_EVERY_S", 0.0)
    snapshot, log = tmp_path / "progress.json", tmp_path / "lion.log"
    with progress.recording(snapshot, log):
        progress.log("[bold]iteration 1[/bold]")
        with progress.bar("iter 1 imitation: teacher answers", 10, info="$0.00") as advance:
            advance(3, info="$0.12")
            seen = json.loads(snapshot.read_text())
            advance(7)
        assert not snapshot.exists()
    assert seen["label"] == "iter 1 imitation: teacher answers" and seen["done"] == 3 and seen["total"] == 10
    assert seen["info"] == "$0.12"
    lines = log.read_text().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  iteration 1", lines[0])  # markup removed
    assert re.fullmatch(r".*  iter 1 imitation: teacher answers: 10/10 in \d+s, \$0\.12", lines[1])
    progress.log("after the run")  # nothing records now: a no-op
    assert len(log.read_text().splitlines()) == 2


def test_without_a_terminal_a_bar_prints_timed_lines_unless_quiet(monkeypatch, capsys):
    monkeypatch.setattr(progress, "_LINE_EVERY_S", 0.0)
    monkeypatch.delenv("LION_QUIET", raising=False)
    with progress.bar("dedup", 4) as advance:
        advance(2)
        advance(2)
    err = capsys.readouterr().err
    assert "dedup: 2/4, eta" in err and re.search(r"dedup: 4/4 in \d+s", err)

    monkeypatch.setenv("LION_QUIET", "1")
    with progress.bar("dedup", 4) as advance:
        advance(4)
    assert capsys.readouterr().err == ""


def test_a_bar_whose_items_failed_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "_LINE_EVERY_S", 0.0)
    snapshot, log = tmp_path / "progress.json", tmp_path / "lion.log"
    with progress.recording(snapshot, log), progress.bar("iter 1 discrimination: referee", 4) as advance:
        advance(1, failed=1)
        advance(3, failed=3)
    assert re.fullmatch(r".*  iter 1 discrimination: referee: 4/4 \(4 failed\) in \d+s", log.read_text().splitlines()[-1])
