"""Dispatcher throughput against a real HTTP endpoint with a fixed latency.

The arena's server adds `--latency` seconds to every completion, so with `--concurrency` calls
in flight the ideal throughput is concurrency / latency (64 / 0.2 s = 320 requests/s). The
client is the project's own path: the `openai` SDK's async client, the dispatcher's limits and
retries, and the SQLite cache, one insert per answer. The baseline is the official research
scripts' pacing, one request every 20 seconds.

    python benchmarks/dispatch.py [--requests 3200] [--concurrency 64] [--latency 0.2] [--fault-rate 0]

Prints the measured throughput, its fraction of the ideal, the ratio to the baseline, and the
CPU seconds per request spent by this process (the client) and by the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from lion.core.config import RoleConfig
from lion.llm.backends.openai_compat import OpenAIChatModel
from lion.llm.cache import ResponseCache
from lion.llm.dispatch import Call, CallSettings, Role
from lion.llm.roles import retry_policy

OFFICIAL_PACING_RPS = 1 / 20


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(latency: float, fault_rate: float) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "lion", "arena", "serve", "--port", "0", "--latency", str(latency),
           "--fault-rate", str(fault_rate), "--retry-after", "0.1", "--hang", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("lion arena: serving"):
        raise SystemExit(f"the arena server did not start: {line!r}")
    return proc, line.split()[-1]


def calls(n: int, offset: int) -> list[Call]:
    return [Call([{"role": "user", "content": f"What is {i} plus {i + 7}?"}]) for i in range(offset, offset + n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=3200)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    args = ap.parse_args()

    proc, url = start_server(args.latency, args.fault_rate)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cache = ResponseCache(Path(tmp) / "cache.sqlite")
            rc = RoleConfig(backend="openai", model="arena-teacher", base_url=url, concurrency=args.concurrency,
                            timeout_s=2.0, backoff_s=0.05, backoff_max_s=0.5, max_attempts=10,
                            decoding={"temperature": 0.7, "max_tokens": 64})
            loop = asyncio.new_event_loop()
            role = Role("teacher", OpenAIChatModel("teacher", rc), rc.decoding.params(), cache, rc.endpoint(),
                        loop=loop, settings=CallSettings(rc.concurrency, retry_policy(rc)))
            role.run(calls(2 * args.concurrency, 10**7), "warm-up")  # connections open, imports done
            server_cpu0, cpu0, t0 = cpu_seconds(proc.pid), time.process_time(), time.perf_counter()
            role.run(calls(args.requests, 0), "benchmark")
            wall = time.perf_counter() - t0
            client_cpu = time.process_time() - cpu0
            server_cpu = cpu_seconds(proc.pid) - server_cpu0
            loop.run_until_complete(role.model.aclose())
            loop.close()
            cache.close()
        with urllib.request.urlopen(url.removesuffix("/v1") + "/stats") as r:
            stats = json.loads(r.read())
    finally:
        proc.terminate()
        proc.wait()

    ideal = args.concurrency / args.latency
    rps = args.requests / wall
    print(f"requests {args.requests}, concurrency {args.concurrency}, latency {args.latency:g} s, "
          f"fault rate {args.fault_rate:g} (faults seen: {sum(stats['faults'].values())})")
    print(f"throughput: {rps:.1f} requests/s = {rps / ideal:.1%} of the ideal {ideal:.0f}/s")
    print(f"vs the official pacing (1 request / 20 s): {rps / OFFICIAL_PACING_RPS:,.0f}x")
    print(f"CPU per request: client {1000 * client_cpu / args.requests:.2f} ms, "
          f"server {1000 * server_cpu / args.requests:.2f} ms")


if __name__ == "__main__":
    main()
