"""`lion export`: one iteration's student as a folder of full weights, for any tool to load.

A full-weight student is that already; a LoRA student is an adapter on its base model, and is
merged into it here. The result loads with plain `AutoModelForCausalLM.from_pretrained`, with
no peft and no run folder around it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from transformers import AutoTokenizer

from lion.core.atomic import replace_dir
from lion.core.errors import LionError
from lion.student.model import is_adapter, library_bars_off, load_model


def export_student(source: Path, out: Path) -> bool:
    """Write the student at `source` to `out` as full weights; True when an adapter was merged.
    `out` is replaced whole, so it must be new or empty: anything else in it would be lost."""
    if out.is_dir() and any(out.iterdir()):
        raise LionError(f"{out} exists and is not empty; choose a new or empty --out folder.")
    merged = is_adapter(source)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    with library_bars_off():
        load_model(source, "auto").save_pretrained(staging)
        AutoTokenizer.from_pretrained(source).save_pretrained(staging)
    if (source / "lion_student.json").is_file():
        shutil.copy2(source / "lion_student.json", staging / "lion_student.json")
    replace_dir(staging, out)
    return merged
