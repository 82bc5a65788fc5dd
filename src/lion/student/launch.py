"""Training in several processes: `accelerate launch` starts them, each one `lion.student.worker`.

The processes need the examples and the settings, which go to a job file in the work folder;
each process trains with the same code as a single one (the Trainer picks up its rank from
the launcher), and the main one writes the student. Their output goes to `launch.log` there,
kept for the user, and a failure is reported with that file's last lines.

Without an accelerate config of the user's, plain data parallelism (DDP) is configured. On a
machine without a GPU it runs on CPU with gloo; that needs the multi-process launcher with
`use_cpu`, because `accelerate launch --cpu` starts a single process whatever the count.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from lion.core.atomic import write_json, write_text
from lion.core.config import StudentConfig
from lion.core.errors import LionError

Example = tuple[str, str, str]


def ddp_config(processes: int) -> str:
    return "\n".join([
        "compute_environment: LOCAL_MACHINE",
        "distributed_type: MULTI_GPU",
        "num_machines: 1",
        f"num_processes: {processes}",
        f"use_cpu: {'false' if torch.cuda.is_available() else 'true'}",
        "mixed_precision: 'no'",  # the training settings choose bf16 where the GPU has it
        "gpu_ids: all",
        "",
    ])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_in_processes(
    base: Path, examples: list[Example], out_dir: Path, work_dir: Path, cfg: StudentConfig, threads: int
) -> dict:
    n = cfg.train.processes
    per_process = max(1, threads // n)
    job = work_dir / "job.json"
    write_json(job, {
        "base": str(base.resolve()), "out_dir": str(out_dir.resolve()), "work_dir": str(work_dir.resolve()),
        "config": cfg.model_dump(mode="json"), "threads": per_process, "examples": examples,
    })
    if cfg.train.accelerate_config:
        config = Path(cfg.train.accelerate_config)
    else:
        config = work_dir / "accelerate.yaml"
        write_text(config, ddp_config(n))
    for old in [work_dir / "result.json", *(work_dir / "ranks").glob("rank-*.json")]:
        old.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "--num_processes", str(n),
        "--main_process_port", str(_free_port()), "-m", "lion.student.worker", str(job),
    ]
    log = work_dir / "launch.log"
    env = {**os.environ, "OMP_NUM_THREADS": str(per_process), "LION_QUIET": "1"}
    with log.open("ab") as out:  # appended across resumes, like any log
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False).returncode
    if code != 0:
        tail = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()][-1:]
        raise LionError(
            f"Training in {n} processes failed (exit code {code}); its log is {log}"
            + (f", ending: {tail[0].strip()[:300]}" if tail else "") + ". Run the same command again to resume it."
        )
    stats = json.loads((work_dir / "result.json").read_text(encoding="utf-8"))
    ranks = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((work_dir / "ranks").glob("rank-*.json"))]
    return {**stats, "processes": len(ranks), "world_size": max((r["world_size"] for r in ranks), default=1),
            "ranks_identical": len({r["params_sha256"] for r in ranks}) == 1}
