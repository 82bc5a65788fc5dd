"""The DPO step after imitation (loop.preference: dpo): the referee's verdicts as training data.

Imitation teaches the student the teacher's answers; the referee has also found where the
student's own answer lost. Each hard verdict is a pair, the teacher's answer chosen and the
student's rejected, and TRL's `DPOTrainer` moves the student towards the first and away from the
second. The imitated student is both the starting point and the reference DPO measures the move
against (TRL loads the reference from the same folder), so `beta` bounds how far the pairs may
pull it from what imitation made. Checkpoints and the atomic move into place are imitation's.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase
from trl import DPOConfig, DPOTrainer

from lion.core.config import StudentConfig
from lion.core.cpu_time import metered
from lion.core.errors import LionError
from lion.student.format import Format, build_prompt, resolve_format, user_message
from lion.student.model import library_bars_off, load_model, load_tokenizer
from lion.student.train import quiet_config, run_trainer, trainer_args

Pair = tuple[str, str, str, str]  # (instruction, input, chosen answer, rejected answer)


def preference_rows(tokenizer: PreTrainedTokenizerBase, fmt: Format, pairs: list[Pair]) -> Dataset:
    """prompt/chosen/rejected rows in the shape imitation trained on: messages rendered by the
    chat template, or the Alpaca prompt as text (TRL closes plain-text answers with EOS, as
    imitation does)."""
    if fmt == "chat_template":
        rows = {
            "prompt": [user_message(ins, inp) for ins, inp, _, _ in pairs],
            "chosen": [[{"role": "assistant", "content": c}] for _, _, c, _ in pairs],
            "rejected": [[{"role": "assistant", "content": r}] for _, _, _, r in pairs],
        }
    else:
        rows = {
            "prompt": [build_prompt(tokenizer, fmt, ins, inp) for ins, inp, _, _ in pairs],
            "chosen": [c for _, _, c, _ in pairs],
            "rejected": [r for _, _, _, r in pairs],
        }
    return Dataset.from_dict(rows)


def make_dpo_trainer(base: Path, pairs: list[Pair], checkpoints: Path, cfg: StudentConfig) -> DPOTrainer:
    if not pairs:
        raise LionError("The DPO step has no pairs: the referee judged none of the student's answers hard.")
    tokenizer = load_tokenizer(base)
    fmt = resolve_format(tokenizer, cfg.prompt_format)
    dpo = cfg.dpo
    args = quiet_config(
        DPOConfig, **trainer_args(cfg.train, checkpoints), num_train_epochs=dpo.epochs,
        learning_rate=dpo.learning_rate, per_device_train_batch_size=dpo.batch_size, beta=dpo.beta,
    )
    return DPOTrainer(model=load_model(base, torch.float32), args=args, processing_class=tokenizer,
                      train_dataset=preference_rows(tokenizer, fmt, pairs))


@metered("student")
def train_preference(base: Path, pairs: list[Pair], out_dir: Path, work_dir: Path, cfg: StudentConfig,
                     threads: int) -> dict:
    """DPO from the imitated student at `base` to `out_dir`; resumes from a checkpoint in
    `work_dir/checkpoints` that a kill left, and deletes them once the student is in place."""
    torch.set_num_threads(threads)
    checkpoints = Path(work_dir) / "checkpoints"
    with library_bars_off(), warnings.catch_warnings():
        # TRL reads a flag that transformers renamed, and transformers warns each time
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        trainer = make_dpo_trainer(Path(base).resolve(), pairs, checkpoints, cfg)
        stats = run_trainer(trainer, checkpoints, Path(out_dir), "DPO on the referee's pairs")
    shutil.rmtree(checkpoints, ignore_errors=True)
    return stats
