"""Every fault kind at 30% of requests: the run ends with exactly the fault-free run's results."""

from kill_resume import compared_files, duplicate_ids, uninterrupted

from conftest import ARENA

FAULTS = ["--fault-rate", "0.3", "--fault-kinds", "429,500,hang,truncated,malformed", "--retry-after", "0.05",
          "--hang", "30", "--seed", "11"]


def test_a_run_under_30_percent_faults_gets_the_fault_free_results(tmp_path, small, reference):
    clean, clean_stats = reference
    faulty, faulty_stats = uninterrupted(tmp_path, small, [*ARENA, *FAULTS])
    print({"clean": clean_stats, "faulty": faulty_stats})

    faults = faulty_stats["faults"]
    assert all(faults[kind] > 0 for kind in ("429", "500", "hang", "truncated", "malformed")), faults
    assert 0.25 < sum(faults.values()) / faulty_stats["requests"] < 0.35
    want, got = compared_files(clean), compared_files(faulty)
    assert sorted(n for n in want.keys() | got.keys() if want.get(n) != got.get(n)) == []
    assert duplicate_ids(faulty) == 0
    assert faulty_stats["answered_distinct"] == clean_stats["answered_distinct"]
    assert faulty_stats["answered_twice"] == 0
