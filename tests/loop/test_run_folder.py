import subprocess
import sys

import pytest

from lion.core.config import load_config
from lion.core.cpu_time import metered
from lion.core.errors import LionError
from lion.loop.run_folder import RunFolder


def test_second_process_is_refused_and_a_dead_holder_frees_the_lock(tmp_path):
    hold = (f"from lion.loop.run_folder import RunFolder; import time; RunFolder({str(tmp_path)!r}).lock(); "
            "print('ok', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(LionError, match="in use by another lion process"):
            RunFolder(tmp_path).lock()
    finally:
        holder.kill()
        holder.wait()
    run = RunFolder(tmp_path)
    run.lock()  # the killed holder left nothing stuck
    run.unlock()


def test_resume_refuses_a_different_config_but_allows_more_iterations(tmp_path):
    run = RunFolder(tmp_path)
    run.bind_config(load_config(None))
    run.bind_config(load_config(None, ["loop.iterations=5", "threads=1"]))
    with pytest.raises(LionError, match=r"different config \(loop.tau\)"):
        run.bind_config(load_config(None, ["loop.tau=2"]))


def test_steps_are_remembered(tmp_path):
    run = RunFolder(tmp_path)
    assert not run.is_done("setup")
    run.mark_done("setup")
    assert RunFolder(tmp_path).is_done("setup")


def test_a_finished_step_records_the_cpu_it_used_and_the_run_s_peak_memory(tmp_path):
    run = RunFolder(tmp_path)
    run.mark_started("1.imitation")
    busy = sum(i * i for i in range(2_000_000))  # CPU work inside the step
    run.mark_done("1.imitation")
    times = run.state()["times"]["1.imitation"]
    assert busy and times["cpu_s"] > 0.01 and "cpu_at_start" not in times
    assert 10 < times["peak_rss_mb"] < 10_000  # a Python process with numpy and pydantic loaded, in MB


def test_a_step_records_the_cpu_of_each_metered_part_within_its_own(tmp_path):
    run = RunFolder(tmp_path)
    with metered("arena"):
        sum(i * i for i in range(1_000_000))  # before the step: not its own
    run.mark_started("1.generation")
    with metered("arena"):
        sum(i * i for i in range(1_000_000))
    sum(i * i for i in range(1_000_000))  # ours
    run.mark_done("1.generation")
    times = run.state()["times"]["1.generation"]
    assert 0.01 < times["cpu_parts"]["arena"] < 0.8 * times["cpu_s"] and "parts_at_start" not in times


def test_a_step_started_again_after_an_unfinished_start_is_marked_resumed(tmp_path):
    """Its time is then only the last session's share, which `lion status` must not take for a
    whole step's; a step done once and run again (its outputs replaced) is not resumed."""
    run = RunFolder(tmp_path)
    run.mark_started("1.imitation")
    assert "resumed" not in run.state()["times"]["1.imitation"]
    RunFolder(tmp_path).mark_started("1.imitation")  # a new process, after a kill
    run.mark_done("1.imitation")
    assert run.state()["times"]["1.imitation"]["resumed"] is True
    run.forget(["1.imitation"])
    run.mark_started("1.imitation")
    assert "resumed" not in run.state()["times"]["1.imitation"]
