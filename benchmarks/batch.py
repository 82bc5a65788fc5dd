"""Batch mode's own cost: a 50,000-request batch written, submitted, and read back into the cache.

The arena server (`lion arena serve`, in its own process) answers the batch at once when it is
first looked at (`--batch-delay 0`), so what is measured is the client: writing the request
file, uploading it, creating the batch, polling, downloading the output and error files and
storing every answer in the run's SQLite cache, plus the server's answering inside one poll.
The baseline, measured in the same run, is the same number of different requests sent online
by the dispatcher at `--concurrency` calls in flight with no added latency.

    python benchmarks/batch.py [--requests 50000] [--concurrency 64]

Prints the wall time and this process's CPU time for each path and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from dispatch import calls, cpu_seconds, start_server
from lion.core.config import BatchSettings, RoleConfig
from lion.llm.backends.openai_compat import OpenAIChatModel
from lion.llm.batches import BatchLedger
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import CallSettings, Role
from lion.llm.roles import retry_policy


def measure(url: str, pid: int, n: int, offset: int, concurrency: int, batch: bool) -> tuple[float, float, float]:
    """(wall s, client CPU s, server CPU s) for n requests online or in one batch."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = ResponseCache(Path(tmp) / "cache.sqlite")
        rc = RoleConfig(backend="openai", model="arena-teacher", base_url=url, concurrency=concurrency, timeout_s=30,
                        decoding={"temperature": 0.7, "max_tokens": 64}, mode="batch" if batch else "online")
        loop = asyncio.new_event_loop()
        batching = BatchSettings(poll_s=0.2, poll_max_s=1.0) if batch else None
        settings = CallSettings(concurrency, retry_policy(rc), batch=batching)
        role = Role("teacher", OpenAIChatModel("teacher", rc), rc.decoding.params(), cache, rc.endpoint(), loop=loop,
                    settings=settings, batches=BatchLedger(cache.path) if batch else None)
        server0, cpu0, t0 = cpu_seconds(pid), time.process_time(), time.perf_counter()
        answers = role.run(calls(n, offset), "batch" if batch else "online")
        wall, cpu, server = time.perf_counter() - t0, time.process_time() - cpu0, cpu_seconds(pid) - server0
        assert len(answers) == n and all(a.text for a in answers)
        loop.run_until_complete(role.model.aclose())
        loop.close()
        cache.close()
    return wall, cpu, server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=50_000)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    proc, url = start_server(0.0, 0.0)
    try:
        online = measure(url, proc.pid, args.requests, 0, args.concurrency, batch=False)
        batched = measure(url, proc.pid, args.requests, 10**7, args.concurrency, batch=True)
    finally:
        proc.terminate()
        proc.wait()
    for name, (wall, cpu, server) in (("online", online), ("batch", batched)):
        print(f"{name:>6}: {args.requests:,} requests in {wall:.1f} s wall; client CPU {cpu:.1f} s, server CPU {server:.1f} s")
    print(f"batch / online: wall {batched[0] / online[0]:.2f}, client CPU {batched[1] / online[1]:.2f}")


if __name__ == "__main__":
    main()
