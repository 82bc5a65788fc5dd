"""SIGKILL at random moments over every step, resume, and get what an uninterrupted run gets."""

from dataclasses import asdict

from kill_resume import kill_and_resume

from conftest import ARENA


def test_killed_at_random_moments_a_run_ends_as_an_uninterrupted_one(tmp_path, small, reference, full_reliability):
    kills = 30 if full_reliability else 6
    out = kill_and_resume(tmp_path, small, kills, 7, ARENA, reference)
    print({"kills": len(out.kills), "steps_hit": sorted(out.steps_hit), "reference": out.reference,
           "repeats_within_0.1s_of_a_kill": out.repeats_at_kills(0.1),
           "killed": out.killed, "second": asdict(out.second), "seconds": out.seconds,
           "kill_list": [asdict(k) for k in out.kills]})

    assert out.final_rc == 0, out.final_stderr
    assert len(out.kills) >= kills * 2 // 3
    assert not [k for k in out.kills if k.unreadable]  # no kill left a file half-written
    assert out.differing == []
    assert out.duplicate_ids == 0
    # the same requests were answered, none lost and none extra
    assert out.killed["answered_distinct"] == out.reference["answered_distinct"]
    # a request answered twice was in flight when a kill struck (first answered within a second
    # of it), at most a role's concurrency (32) per kill: no answer that reached the cache is
    # asked for again
    assert out.repeats_at_kills(1.0) == out.killed["answered_twice"] <= 32 * len(out.kills)
    # a second process on the folder in use is turned away at once, in one sentence
    assert out.second.returncode == 2
    assert "is in use by another lion process (pid " in out.second.stderr and "Traceback" not in out.second.stderr
    assert out.second.seconds < 30
