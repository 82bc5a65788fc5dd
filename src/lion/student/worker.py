"""One training process of several, as `accelerate launch` starts it (see `lion.student.launch`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lion.core.atomic import write_json
from lion.core.config import StudentConfig
from lion.student.train import train_here


def main(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    work_dir = Path(job["work_dir"])
    stats = train_here(Path(job["base"]), [tuple(e) for e in job["examples"]], Path(job["out_dir"]), work_dir,
                       StudentConfig.model_validate(job["config"]), job["threads"])
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_rank() == 0:
        write_json(work_dir / "result.json", stats)


if __name__ == "__main__":
    main(sys.argv[1])
