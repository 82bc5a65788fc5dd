"""Imitation training: fine-tune the student on (instruction, input, teacher answer) triples.

TRL's `SFTTrainer` does the work. The loss covers the answer tokens only, as in the paper:
the prompt is context the student reads, not text it should learn to write. Checkpoints are
written every `save_steps` so that a killed process resumes where it stopped instead of
starting over, and the finished student is moved into place in one step.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import logging
import re
import shutil
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

import torch
from datasets import Dataset
from transformers import (
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)
from transformers.trainer_callback import PrinterCallback
from trl import SFTConfig, SFTTrainer

from lion.core.atomic import replace_dir, write_json
from lion.core.config import LoraOptions, StudentConfig, TrainConfig
from lion.core.cpu_time import metered
from lion.core.errors import LionError
from lion.core.progress import bar
from lion.student.format import Format, build_prompt, resolve_format, user_message
from lion.student.model import (
    cuda_bf16,
    is_adapter,
    library_bars_off,
    load_model,
    load_tokenizer,
    peft_quiet,
)

Example = tuple[str, str, str]  # (instruction, input, answer)
Args = TypeVar("Args", bound=TrainingArguments)
CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def check_train_config(cfg: TrainConfig, dpo: bool) -> None:
    """Refuse what only the Trainer would notice, before a run pays for any teacher answer;
    `dpo`: whether a DPO step follows imitation (loop.preference: dpo)."""
    from transformers import SchedulerType

    known = [s.value for s in SchedulerType]
    if cfg.lr_scheduler not in known:
        raise LionError(
            f"config field 'student.train.lr_scheduler': unknown scheduler '{cfg.lr_scheduler}'; "
            f"choose one of {', '.join(known)}."
        )
    if cfg.method == "qlora" and not (torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes")):
        raise LionError(
            "config field 'student.train.method': qlora needs a CUDA GPU and the bitsandbytes package "
            "(pip install bitsandbytes); use lora on this machine."
        )
    if dpo and (cfg.method != "full" or cfg.processes > 1):
        raise LionError(
            "config field 'loop.preference': the DPO step trains a full student in one process (student.train.method: "
            "full, student.train.processes: 1); with a LoRA adapter its reference would be the base model, not the "
            "imitated student."
        )
    if cfg.accelerate_config is not None and not Path(cfg.accelerate_config).is_file():
        raise LionError(f"config field 'student.train.accelerate_config': {cfg.accelerate_config} is not a file.")


def training_rows(
    tokenizer: PreTrainedTokenizerBase, fmt: Format, examples: list[Example]
) -> Dataset:
    """A prompt/completion dataset, the shape for which TRL masks the prompt out of the loss.

    With a chat template the rows stay as messages, so TRL renders and tokenizes them with
    the template exactly as generation does (no second BOS) and the template's own end-of-turn
    closes the answer. Alpaca rows are text, closed by EOS so the student learns to stop.
    """
    if fmt == "chat_template":
        prompts = [user_message(ins, inp) for ins, inp, _ in examples]
        completions = [[{"role": "assistant", "content": ans}] for _, _, ans in examples]
    else:
        prompts = [build_prompt(tokenizer, fmt, ins, inp) for ins, inp, _ in examples]
        completions = [ans + tokenizer.eos_token for _, _, ans in examples]
    return Dataset.from_dict({"prompt": prompts, "completion": completions})


def trainer_args(cfg: TrainConfig, checkpoints: Path) -> dict:
    """The settings imitation and the DPO step share, spelled out, since TRL's configs default
    differently from TrainingArguments.

    TRL turns gradient checkpointing on by default; it only pays on big models, so it is an
    option, off unless asked for.
    """
    cuda = torch.cuda.is_available()
    return dict(
        output_dir=str(checkpoints),
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,  # transformers 5.24 documents a float in [0, 1) here as a share of all steps
        weight_decay=cfg.weight_decay,
        gradient_accumulation_steps=cfg.gradient_accumulation,
        max_length=cfg.max_length,
        seed=cfg.seed,
        gradient_checkpointing=cfg.gradient_checkpointing,
        ddp_find_unused_parameters=False,  # every parameter takes part; searching costs a graph walk a step
        bf16=cuda_bf16(),
        fp16=False,
        use_cpu=not cuda,
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,  # the newest may be cut short by a kill; the one before stays whole
        report_to="none",
        disable_tqdm=True,
    )


def quiet_config(make: Callable[..., Args], **kwargs: object) -> Args:
    """A TRL config, without the warning recent transformers give for the gradient checkpointing
    flag's old name, the one every supported version still accepts."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`gradient_checkpointing` is deprecated", FutureWarning)
        return make(**kwargs)


def sft_config(cfg: TrainConfig, checkpoints: Path) -> SFTConfig:
    """Imitation's settings. Packing uses TRL's best-fit strategy, which keeps packed examples
    apart in attention only with FlashAttention (TRL warns otherwise)."""
    return quiet_config(
        SFTConfig, **trainer_args(cfg, checkpoints), num_train_epochs=cfg.epochs, learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size, completion_only_loss=True, packing=cfg.packing,
    )


def make_trainer(
    base: Path, examples: list[Example], checkpoints: Path, cfg: StudentConfig
) -> SFTTrainer:
    """The trainer with the student loaded from `base` and the examples already tokenized.

    After construction `trainer.train_dataset` holds the exact `input_ids` and `labels` the
    student is trained on, which is where the prompt masking can be checked.
    """
    if not examples:
        raise LionError("The student has no training examples; the Train Pool is empty.")
    base = Path(base).resolve() if Path(base).exists() else Path(base)  # an adapter records where its base is
    tokenizer = load_tokenizer(base)
    fmt = resolve_format(tokenizer, cfg.prompt_format)
    dtype = torch.float32  # master weights; bf16 on a GPU is autocast on top of them
    method = cfg.train.method
    if method == "full":
        model, adapter = load_model(base, dtype), None  # an adapter to start from is merged in
    else:
        model = load_model(base, dtype, train_adapter=True, four_bit=method == "qlora")
        adapter = None if is_adapter(base) else lora_config(cfg.train.lora)  # go on training it, or a new one
        if method == "qlora" and adapter is not None:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.train.gradient_checkpointing)
    with peft_quiet():
        trainer = SFTTrainer(
            model=model,
            args=sft_config(cfg.train, checkpoints),
            train_dataset=training_rows(tokenizer, fmt, examples),
            processing_class=tokenizer,
            peft_config=adapter,
        )
    return trainer


def lora_config(options: LoraOptions) -> object:
    from peft import LoraConfig

    return LoraConfig(
        r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
        target_modules=options.target_modules or "all-linear", task_type="CAUSAL_LM",
    )


def _step(folder: Path) -> int:
    match = CHECKPOINT.fullmatch(folder.name)
    return int(match.group(1)) if match else -1


def _complete(folder: Path) -> bool:
    """The Trainer writes `trainer_state.json` last, so a readable one marks a whole checkpoint."""
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def resume_point(checkpoints: Path) -> Path | None:
    """The newest whole checkpoint, after deleting any that a kill left half-written."""
    if not checkpoints.is_dir():
        return None
    found = sorted((p for p in checkpoints.iterdir() if _step(p) >= 0), key=_step, reverse=True)
    for folder in found:
        if _complete(folder):
            return folder
        shutil.rmtree(folder)
    return None


class _Progress(TrainerCallback):
    """Shows training steps on the project's progress bar instead of the Trainer's printouts."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.stack = ExitStack()
        self.advance: Callable[[int], None] = lambda n=1: None

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: object,
    ) -> None:
        self.advance = self.stack.enter_context(bar(self.label, state.max_steps))
        self.advance(state.global_step)

    def on_step_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: object,
    ) -> None:
        self.advance(1)

    def close(self) -> None:
        self.stack.close()


def training_stats(log_history: list[dict], steps: int, runtime_s: float, resumed_at: int) -> dict:
    """Steps and first/last logged loss over the whole training (the log survives a resume);
    `runtime_s` is this call's wall time, so a resumed call counts only its own share."""
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return {
        "steps": steps,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "runtime_s": round(runtime_s, 2),
        "resumed_at_step": resumed_at,
    }


def save_student(trainer: Trainer, out_dir: Path, stats: dict) -> None:
    """Write model, tokenizer and `lion_student.json` under a staging name, then move it in.

    Every process takes part in writing the model (FSDP and DeepSpeed gather their shards
    for it); the main process finishes the folder. A LoRA student is its adapter. The random
    `student_uid` names this particular training result, so cached answers of an earlier
    student are never mistaken for this one's.
    """
    out_dir = Path(out_dir)
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    main = trainer.is_world_process_zero()
    if main:
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))
    if main:
        write_json(staging / "lion_student.json", {"student_uid": uuid.uuid4().hex, **stats})
        replace_dir(staging, out_dir)


@metered("student")
def train_student(
    base: Path,
    examples: list[Example],
    out_dir: Path,
    work_dir: Path,
    cfg: StudentConfig,
    threads: int,
) -> dict:
    """Fine-tune the student at `base` on `examples` and save it to `out_dir`; returns stats.

    Checkpoints go to `work_dir/checkpoints`; when one is there from a killed run, training
    resumes from it. They are deleted once the student is safely in `out_dir`. With more than
    one process configured, the processes are started by `accelerate launch`.
    """
    checkpoints = Path(work_dir) / "checkpoints"
    resume_point(checkpoints)  # before any process starts: clear what a kill left half-written
    if cfg.train.processes > 1:
        from lion.student.launch import train_in_processes

        stats = train_in_processes(Path(base), examples, Path(out_dir), Path(work_dir), cfg, threads)
    else:
        stats = train_here(Path(base), examples, Path(out_dir), Path(work_dir), cfg, threads)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return stats


def train_here(base: Path, examples: list[Example], out_dir: Path, work_dir: Path, cfg: StudentConfig, threads: int) -> dict:
    """Training in this process, which may be one rank of several (`lion.student.worker`)."""
    torch.set_num_threads(threads)
    checkpoints = work_dir / "checkpoints"
    with library_bars_off():
        trainer = make_trainer(base, examples, checkpoints, cfg)
        stats = run_trainer(trainer, checkpoints, out_dir, "training the student")
        if trainer.args.world_size > 1:
            report_rank(trainer, work_dir / "ranks")
    return stats


def run_trainer(trainer: Trainer, checkpoints: Path, out_dir: Path, label: str) -> dict:
    """Train from the newest whole checkpoint, if a kill left one, with a progress bar; save the
    student to `out_dir` and return its stats. Any TRL trainer: imitation's and DPO's."""
    started = time.monotonic()
    resume = resume_point(checkpoints)
    trainer.remove_callback(PrinterCallback)  # the progress bar says it instead of printed log lines
    progress = _Progress(label)
    if trainer.is_world_process_zero():
        trainer.add_callback(progress)
    try:
        with tied_weights_not_missing(trainer):
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    finally:
        progress.close()
    stats = training_stats(
        trainer.state.log_history, trainer.state.global_step, time.monotonic() - started, _step(resume) if resume else 0
    )
    save_student(trainer, out_dir, stats)
    return stats


_MISSING = re.compile(r"There were missing keys in the checkpoint model loaded: ([\[{].*[\]}])\.", re.DOTALL)


class _TiedKeysFilter(logging.Filter):
    """Drops the Trainer's "There were missing keys in the checkpoint model loaded" warning when
    every key it names is a tied weight, and lets every other record through.

    A model with tied embeddings (the arena's tiny Llama; many small open models) is saved
    without `lm_head.weight`, which is the embedding matrix itself. Resuming, transformers'
    Trainer loads the checkpoint with `load_state_dict(strict=False)` and takes that key for a
    missing one: it compares with `_keys_to_ignore_on_save`, which transformers 5 models no
    longer set (they declare `_tied_weights_keys`). The weight is loaded through its twin, so
    the warning is false, and it reads like corruption.
    """

    def __init__(self, model: Callable[[], torch.nn.Module]) -> None:
        super().__init__()
        self.model = model

    def filter(self, record: logging.LogRecord) -> bool:
        found = _MISSING.fullmatch(record.getMessage())
        if found is None:
            return True
        try:
            missing = [str(key) for key in ast.literal_eval(found.group(1))]
        except (ValueError, SyntaxError, TypeError):
            return True
        return not tied_to_loaded(self.model(), missing)


def tied_to_loaded(model: torch.nn.Module, missing: list[str]) -> bool:
    """Whether every missing key names a parameter that is, as a tensor, one that was loaded
    under another name: loading that one loaded it."""
    names: dict[int, set[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), set()).add(name)
    of = {name: same for same in names.values() for name in same}
    return bool(missing) and all(key in of and of[key] - set(missing) for key in missing)


@contextmanager
def tied_weights_not_missing(trainer: Trainer) -> Iterator[None]:
    """While the trainer runs, silence only its false "missing keys" warning for tied weights
    (see `_TiedKeysFilter`); transformers' other warnings stay as they are."""
    logger = logging.getLogger("transformers.trainer")
    quiet = _TiedKeysFilter(lambda: trainer.model)
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def report_rank(trainer: SFTTrainer, folder: Path) -> None:
    """What this rank ended with: the world it saw and a digest of its weights, which plain
    data parallelism keeps identical on every rank (sharded training does not)."""
    digest = hashlib.sha256()
    for name, param in sorted(trainer.accelerator.unwrap_model(trainer.model).named_parameters()):
        digest.update(name.encode())
        digest.update(param.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    rank = trainer.args.process_index
    write_json(folder / f"rank-{rank}.json", {
        "rank": rank, "world_size": trainer.args.world_size, "backend": str(torch.distributed.get_backend()),
        "params_sha256": digest.hexdigest(),
    })
