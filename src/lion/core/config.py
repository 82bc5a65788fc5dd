"""A run's configuration as data: pydantic models loaded from YAML, with `--set` overrides.

Unknown keys and wrong types are refused with one sentence naming the file, the line and the
dotted key, because a silently ignored typo in a days-long paid run is the costliest bug there is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from lion.core import modes
from lion.core.backends import BACKENDS, OPTIONS, Capabilities, readers
from lion.core.chat import Decoding
from lion.core.errors import LionError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ArenaOptions(Strict):
    """How the offline arena behaves when it plays a role (see `lion.arena`)."""

    position_bias: float = Field(0.0, description="points added to the answer shown first")
    noise: float = Field(0.0, ge=0, description="std. dev. of the referee's score noise")
    malformed_rate: float = Field(0.05, ge=0, le=1, description="share of malformed replies")


class DecodingConfig(Strict):
    temperature: float = Field(
        0.7, ge=0, le=2, description="sampling temperature: 0 takes the likeliest token each step, higher values vary the "
        "answers more (anthropic accepts at most 1)",
    )
    top_p: float = Field(
        1.0, gt=0, le=1, description="nucleus sampling: draw only from the likeliest tokens whose probabilities add up to "
        "this; 1 leaves every token in",
    )
    max_tokens: int = Field(512, ge=1, description="most tokens in one reply; a longer one is cut off there")

    def params(self) -> Decoding:
        return Decoding(self.temperature, self.top_p, self.max_tokens)


class Price(Strict):
    """US dollars per million tokens, as the provider bills them."""

    input_per_mtok: float = Field(0.0, ge=0, description="prompt tokens that no prompt cache touched")
    output_per_mtok: float = Field(0.0, ge=0, description="completion tokens, the reply")
    cache_write_per_mtok: float | None = Field(
        None, ge=0, description="prompt tokens written to the provider's prompt cache; default: 1.25 x input_per_mtok, "
        "as Anthropic bills its 5-minute cache",
    )
    cache_read_per_mtok: float | None = Field(
        None, ge=0, description="prompt tokens read from the provider's prompt cache; default: 0.1 x input_per_mtok",
    )
    batch_input_per_mtok: float | None = Field(
        None, ge=0, description="prompt tokens sent through the provider's batch API; default: half of input_per_mtok, as "
        "OpenAI bills"
    )
    batch_output_per_mtok: float | None = Field(
        None, ge=0, description="completion tokens through the provider's batch API; default: half of output_per_mtok"
    )


class LocalOptions(Strict):
    """How an `hf_local` role runs its Hugging Face model in this process."""

    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where the model runs; auto: cuda when a usable CUDA GPU is present, cpu otherwise"
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bfloat16 on a GPU that supports it, float32 otherwise"
    )
    batch_size: int = Field(8, ge=1, description="requests generated together in one batch")


class BatchSettings(Strict):
    """How a role in `mode: batch` sends its calls through the provider's Batches API."""

    poll_s: float = Field(10.0, gt=0, description="first wait between looks at a batch in flight; it doubles")
    poll_max_s: float = Field(300.0, gt=0, description="longest wait between looks")
    max_requests: int | None = Field(
        None, ge=1, description="requests per batch; default: the provider's limit (OpenAI 50,000, Anthropic 100,000)"
    )
    max_bytes: int | None = Field(
        None, ge=1024, description="bytes of requests per batch; default: under the provider's limit (OpenAI 200 MB, "
        "Anthropic 256 MB)",
    )


class RoleConfig(Strict):
    """One LLM role: which backend and model plays it, how it decodes, and how it is called.

    `openai` speaks to any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server,
    TGI), `azure` to Azure OpenAI (`model` is the deployment), `anthropic` to Claude through
    Anthropic's own Messages API (or a gateway that serves it), `hf_local` runs a Hugging Face
    chat model in-process, `arena` is the offline world; `lion.core.backends` registers them.
    A field that only some backends read may be set only where the role's backend reads it.
    """

    backend: str = Field("arena", description="who plays the role: " + ", ".join(BACKENDS))
    model: str = Field(
        description="the model the role asks for: the provider's model name (azure: the deployment), a Hugging Face model "
        "folder or hub name (hf_local), or arena-teacher, -referee, -judge or -generator (arena)"
    )
    base_url: str | None = Field(
        None, description="openai: the API root (default api.openai.com/v1); azure: the resource endpoint; anthropic: "
        "the API root (default api.anthropic.com)"
    )
    api_key_env: str | None = Field(
        None, description="the environment variable holding the API key; none for servers without one (anthropic: "
        "ANTHROPIC_API_KEY)"
    )
    api_version: str | None = Field(None, description="azure only: the API version")
    send_seed: bool = Field(
        True, description="pass the sample index as `seed`, so a deliberate repeat is a new sample"
    )
    mode: Literal["online", "batch"] = Field(
        "online", description="online: one request per call; batch: a stage's calls go through the provider's "
        "Batches API at its batch price and are waited for; a killed run waits for its batches instead of paying again",
    )
    batch: BatchSettings = Field(
        BatchSettings(), description="how calls go through the provider's Batches API when mode is batch"
    )
    decoding: DecodingConfig = Field(DecodingConfig(), description="how the role's replies are sampled")
    concurrency: int = Field(16, ge=1, description="calls in flight at once")
    rpm: int | None = Field(None, ge=1, description="requests per minute allowed at this endpoint")
    tpm: int | None = Field(None, ge=1, description="tokens per minute allowed at this endpoint")
    timeout_s: float = Field(120.0, gt=0, description="one call's limit, then it is retried")
    max_attempts: int = Field(6, ge=1, description="tries per call before it is recorded as failed")
    backoff_s: float = Field(1.0, gt=0, description="first back-off; it doubles per retry, with jitter")
    backoff_max_s: float = Field(60.0, gt=0, description="longest back-off between two tries of a call")
    price: Price | None = Field(
        None, description="per-token prices; default: lion.llm.pricing's table for known models"
    )
    parse_retries: int = Field(
        3, ge=0, description="referee/judge: new samples asked when a reply's scores are unreadable"
    )
    structured: Literal["auto", "text", "json"] = Field(
        "auto",
        description="referee/judge: read scores from a JSON-schema reply (json), from closing score "
        "lines (text), or json where the backend offers it with text as the fallback (auto)",
    )
    local: LocalOptions = Field(LocalOptions(), description="hf_local only: how the model runs in this process")
    arena: ArenaOptions = Field(ArenaOptions(), description="arena only: how the offline arena plays the role")

    @field_validator("backend")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in BACKENDS:
            raise PydanticCustomError(
                "unknown_backend", "unknown backend {name}; choose one of {known}", {"name": repr(name), "known": ", ".join(BACKENDS)}
            )
        return name

    @field_validator(*sorted(OPTIONS))
    @classmethod
    def _read_by_backend(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse a backend-specific option the role's backend would silently ignore."""
        backend = info.data.get("backend")  # absent when the backend itself was refused
        if backend is None or info.field_name in BACKENDS[backend].options:
            return value
        if value == cls.model_fields[info.field_name].default:
            return value
        names = readers(info.field_name)
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        who = f"the {listed} backend" + ("s read it" if len(names) > 1 else " reads it")
        raise PydanticCustomError("foreign_option", "only {who}", {"who": who})

    @property
    def capabilities(self) -> Capabilities:
        return BACKENDS[self.backend]

    def key_env(self) -> str | None:
        """The environment variable the role's API key is read from: its own, else its backend's."""
        return self.api_key_env or self.capabilities.key_env

    def batch_settings(self) -> BatchSettings:
        """The role's batch settings with the limits it leaves unset taken from its provider's."""
        requests, size = self.capabilities.batch_limits or (1, 1024)
        return self.batch.model_copy(update={"max_requests": self.batch.max_requests or requests,
                                             "max_bytes": self.batch.max_bytes or size})

    def url(self) -> str | None:
        """The API root a remote role calls: its own base_url, else its backend's default."""
        return self.base_url or self.capabilities.default_url

    def endpoint(self) -> str:
        """Where the role's answers come from; part of every cache key and rate limit.

        An in-process backend's identity option (the arena's) decides its answers as a
        server's weights would, so it is part of where they come from.
        """
        caps = self.capabilities
        if caps.remote:
            return f"{self.backend}:{(self.url() or '').rstrip('/')}"
        if caps.identity is not None:
            return f"{self.backend}:{getattr(self, caps.identity).model_dump_json()}"
        return self.backend


class TinyStudentConfig(Strict):
    """The arena's from-scratch student: a small Llama and a word-level tokenizer."""

    hidden_size: int = Field(
        256, ge=8, description="width of each layer (the feed-forward layers are 4 x wider); a multiple of 2 x heads"
    )
    layers: int = Field(4, ge=1, description="transformer layers")
    heads: int = Field(4, ge=1, description="attention heads per layer")
    max_positions: int = Field(256, ge=16, description="longest sequence, in tokens, the model is built for")


class LoraOptions(Strict):
    """Low-rank adapters (peft) for `method: lora` or `qlora`."""

    r: int = Field(16, ge=1, description="rank of each adapter")
    alpha: int = Field(32, ge=1, description="scaling: the update is multiplied by alpha / r")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout probability on each adapter's input during training")
    target_modules: list[str] | None = Field(
        None, description="names of the modules to adapt; default: every linear layer but the output head"
    )


class TrainConfig(Strict):
    method: Literal["full", "lora", "qlora"] = Field(
        "full", description="train every weight, a LoRA adapter, or a LoRA adapter on 4-bit weights (CUDA only)"
    )
    lora: LoraOptions = Field(LoraOptions(), description="the adapter's settings for method: lora or qlora")
    epochs: float = Field(3.0, gt=0, description="passes over the training examples in each imitation; may be fractional")
    learning_rate: float = Field(2e-5, gt=0, description="peak learning rate of imitation, reached after warm-up")
    lr_scheduler: str = Field("cosine", description="a transformers scheduler name, checked at run start")
    warmup_ratio: float = Field(
        0.03, ge=0, lt=1, description="share of the training steps over which the learning rate rises from 0 to its peak"
    )
    weight_decay: float = Field(0.0, ge=0, description="the optimizer's (AdamW's) weight decay")
    batch_size: int = Field(8, ge=1, description="examples per training step in each process")
    gradient_accumulation: int = Field(
        1, ge=1, description="batches whose gradients are added up before each optimizer step"
    )
    max_length: int = Field(
        1024, ge=8, description="most tokens in one training example, prompt and answer together; longer ones are truncated"
    )
    save_steps: int = Field(50, ge=1, description="checkpoint interval, so a killed training resumes")
    gradient_checkpointing: bool = Field(False, description="recompute activations: less memory, about 30% slower")
    packing: bool = Field(False, description="pack several short examples into each row of max_length tokens")
    processes: int = Field(1, ge=1, description="training processes; more than one are started with accelerate launch")
    accelerate_config: str | None = Field(
        None, description="an accelerate config file (DDP, FSDP or DeepSpeed) for processes > 1; default: plain DDP"
    )
    seed: int = Field(0, description="the trainer's random seed: data order, dropout, a new adapter's first weights")


class GenerateConfig(Strict):
    max_new_tokens: int = Field(256, ge=1, description="most tokens in one of the student's (greedy) answers")
    batch_size: int = Field(
        32, ge=1, description="prompts the student answers together; also the batch the student's losses are "
        "computed in for loop.signal: student_loss",
    )
    engine: Literal["auto", "transformers", "vllm"] = Field(
        "auto", description="vllm where it is installed and a GPU is present (auto), else transformers"
    )


class DpoConfig(Strict):
    """The DPO step after imitation (loop.preference: dpo); TRL's DPOTrainer takes these."""

    beta: float = Field(0.1, gt=0, description="how far DPO may move the student from the imitated one it starts as")
    epochs: float = Field(1.0, gt=0, description="passes over the preference pairs in each DPO step; may be fractional")
    learning_rate: float = Field(1e-6, gt=0, description="DPO wants a far smaller rate than imitation")
    batch_size: int = Field(8, ge=1, description="preference pairs per training step in each process")


class StudentConfig(Strict):
    model: str = Field(
        "arena-tiny",
        description="'arena-tiny' (built locally), a Hugging Face model folder, or a hub name",
    )
    prompt_format: Literal["auto", "alpaca", "chat_template"] = Field(
        "auto", description="how an instruction is shown to the student in training and generation: the paper's Alpaca "
        "headers (alpaca), the tokenizer's chat template (chat_template), or the template where the tokenizer has one "
        "(auto)",
    )
    strategy: Literal["continue", "cumulative"] = Field(
        "cumulative", description="each imitation trains the base student on every Train Pool so far (cumulative) or "
        "the last iteration's student on the new Train Pool only (continue)",
    )
    tiny: TinyStudentConfig = Field(TinyStudentConfig(), description="the from-scratch student's size, with model: arena-tiny")
    train: TrainConfig = Field(TrainConfig(), description="how each imitation trains the student")
    generate: GenerateConfig = Field(GenerateConfig(), description="how the student answers instructions")
    dpo: DpoConfig = Field(DpoConfig(), description="the DPO step's settings, used with loop.preference: dpo")


class LoopConfig(Strict):
    iterations: int = Field(3, ge=1, description="rounds of imitation, discrimination and generation; a closing "
                            "imitation then trains the student on the last round's new instructions")
    cut_off_answers: Literal["drop", "train"] = Field(
        "drop", description="teacher answers cut off at max_tokens: left out of training (drop), since they teach "
        "the student to stop mid-sentence, or trained on as they are (train); empty answers are never trained on",
    )
    new_per_iteration: int = Field(6000, ge=1, description="N, new instructions per iteration")
    hard_share: float = Field(
        0.5, ge=0, le=1, description="share of N drawn from hard instructions (the paper's 1:1 is 0.5)"
    )
    tau: float = Field(1.0, description="an instruction is hard when d = T - S >= tau")
    parents: Literal[tuple(modes.PARENTS)] = Field(
        "referee",
        description="where new instructions come from: 'referee' (Lion: the hard and easy ones of the split that "
        "loop.signal makes, the referee's by default) or 'random' "
        "(one-way: any Cache Pool instruction, no referee); the old 'referee-even' and 'even' read as 'referee' "
        "and 'random' with even_kinds",
    )
    even_kinds: bool = Field(
        False, description="draw each side's parents evenly over the kinds it holds, so no kind takes more than its "
        "share of the generator's calls however many of the parents it holds",
    )
    judged: Literal[tuple(modes.JUDGED)] = Field(
        "cache_pool",
        description="what the referee judges: 'cache_pool' (the paper: the trained student on every instruction it "
        "has trained on), 'unseen' (before imitation, the student so far on the new Train Pool it has not trained "
        "on), or 'held_back' (after imitation, the student just trained on a slice of the Train Pool kept out of its "
        "training until the next iteration); with either of the last two the referee's calls do not grow with the "
        "Cache Pool",
    )
    held_back: float = Field(
        0.25, gt=0, lt=1, description="with loop.judged: held_back, the share of each Train Pool kept out of this "
        "iteration's training and judged; it joins training in the next iteration",
    )
    signal: str = Field(
        "referee", description="what says a judged instruction is hard: 'referee' (the paper: the referee scores the "
        "teacher's and the student's answers, hard when d >= tau) or 'student_loss' (no LLM call: the student's loss "
        "on the teacher's answer given the instruction, divided by its loss on the answer alone, the IFD; the "
        "instructions with the highest IFD are hard); student_loss needs loop.judged 'held_back' or 'unseen'",
    )
    loss_hard_share: float = Field(
        0.5, gt=0, lt=1, description="with loop.signal: student_loss, the share of the judged instructions, highest "
        "IFD first, that count as hard",
    )
    allocation: Literal[tuple(modes.ALLOCATIONS)] = Field(
        "hard", description="which hard instructions the generator builds on: 'hard' (the paper: all of them) or "
        "'learnable' (not those whose line the student has trained on and fails again: a hard instruction written "
        "from a hard parent, or one whose hard children are hard again)",
    )
    preference: Literal[tuple(modes.PREFERENCES)] = Field(
        "none", description="'dpo': after each imitation, a DPO step (student.dpo) on the pairs the referee has "
        "judged hard so far, the teacher's answer chosen over the student's; 'none': imitation only, as in the paper",
    )
    both_orders: bool = Field(
        True, description="the referee judges each pair in both orders; false: teacher's answer first only (an ablation)"
    )
    rouge_threshold: float = Field(
        0.7, gt=0, le=1, description="a new instruction is dropped when its ROUGE-L to the pool is above this"
    )
    guard: list[str] = Field(
        default_factory=list,
        description="evaluation question files (JSON/JSONL: instruction or turns) no new instruction may resemble",
    )
    guard_threshold: float = Field(0.7, gt=0, le=1, description="ROUGE-L above which the guard drops an instruction")
    max_attempts_factor: float = Field(
        4.0, ge=1, description="generator calls allowed per wanted instruction before giving up"
    )
    seed: int = Field(
        42, description="seed of the run's random draws: the arena's seeds and held-out set, the tiny student's first "
        "weights, the generator's parents and the held-back slice",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_parents(cls, data: Any) -> Any:
        """Configs written before `even_kinds` existed keep loading, their parents read as the new pair."""
        if isinstance(data, dict) and data.get("parents") in modes.OLD_PARENTS:
            parents, even = modes.OLD_PARENTS[data["parents"]]
            data = {**data, "parents": parents, "even_kinds": even}
        return data

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, name: str) -> str:
        if name not in modes.SIGNALS:
            raise PydanticCustomError(
                "unknown_signal", "unknown signal {name}; choose one of {known}", {"name": repr(name), "known": ", ".join(modes.SIGNALS)}
            )
        return name

    @field_validator("judged", "preference", "held_back", "signal", "allocation")
    @classmethod
    def _modes_agree(cls, value: Any, info: ValidationInfo) -> Any:
        problem = modes.problem(info.field_name, {**info.data, info.field_name: value})
        if problem:
            raise PydanticCustomError("loop_mode", "{problem}", {"problem": problem})
        return value

    @property
    def judging(self) -> modes.Judged:
        """Where discrimination looks (loop.judged)."""
        return modes.JUDGED[self.judged]

    @property
    def parent_source(self) -> modes.Parents:
        """Where the generator's parents come from (loop.parents)."""
        return modes.PARENTS[self.parents]

    @property
    def preference_step(self) -> modes.Preference:
        """What follows imitation (loop.preference)."""
        return modes.PREFERENCES[self.preference]

    @property
    def hardness(self) -> modes.Signal:
        """What says an instruction is hard (loop.signal)."""
        return modes.SIGNALS[self.signal]

    @property
    def allocating(self) -> modes.Allocation:
        """Which hard instructions the generator builds on (loop.allocation)."""
        return modes.ALLOCATIONS[self.allocation]

    @property
    def uses_split(self) -> bool:
        """Whether new instructions come from a hard/easy split, so the discrimination stage runs."""
        return self.parent_source.uses_split

    @property
    def calls_referee(self) -> bool:
        """Whether the discrimination stage asks the referee."""
        return self.uses_split and self.hardness.calls_referee

    @property
    def closing_differs(self) -> bool:
        """Whether the closing imitation is a step of its own rather than iteration N + 1's imitation."""
        return self.judging.closing_differs(self.model_dump())


class FieldMap(Strict):
    instruction: str = Field("instruction", description="the record key holding the instruction")
    input: str = Field("input", description="the record key holding the instruction's optional input (its context)")
    category: str = Field("category", description="optional; groups the report's lineage of generated instructions")


class DataConfig(Strict):
    seeds: str = Field(
        "arena", description="'arena', a JSON/JSONL file, or 'hf:NAME' for a Hugging Face dataset"
    )
    format: Literal["auto", "alpaca", "self_instruct", "jsonl"] = Field(
        "auto", description="how a seed record is read: self_instruct takes the input from its first 'instances' entry, "
        "alpaca and jsonl from data.fields.input, auto as self_instruct where a record has an instances list; a JSON "
        "array or JSONL is told from the file itself",
    )
    fields: FieldMap = Field(FieldMap(), description="the record keys a seed file or dataset holds its text under")
    split: str = Field("train", description="with seeds: hf:NAME, the dataset split loaded")
    limit: int | None = Field(
        None, ge=1, description="keep only the first this many seed instructions, duplicates removed; default: all"
    )
    arena_size: int = Field(300, ge=1, description="seed instructions drawn from the arena")
    arena_sums: bool = Field(
        False, description="add two-number sums to the arena's seeds and held-out set: a kind its tiny student "
        "can memorise but not learn (see lion.arena.families.SUM)",
    )
    arena_facts: bool = Field(
        True, description="the arena's fact families (capitals, antonyms, ...: lookups, learned only by seeing "
        "each fact) in its seeds and held-out set; off, it holds only what arena_sums and arena_procedures add",
    )
    arena_procedures: bool = Field(
        False, description="add procedural kinds to the arena's seeds and held-out set: answers worked out from the "
        "question (differences, the larger number, words reversed, sorted or counted, plurals and past tenses by rule, "
        "last letters, 2-digit products), held out on new inputs (see lion.arena.families.PROCEDURES)",
    )

    arena_frames: Literal["standard", "wide"] = Field(
        "standard", description="how the arena frames its questions: 'wide' composes each context sentence and "
        "style request from independent slots (15,360 and 448 of them, against 21 and 14), so that a pool of the "
        "paper's size (52K seeds) still leaves room for new instructions under the ROUGE-L threshold; the generator "
        "writes in the register of its example",
    )

    @property
    def arena_wide(self) -> bool:
        return self.arena_frames == "wide"

    @field_validator("arena_procedures")
    @classmethod
    def _some_kind(cls, procedures: bool, info: ValidationInfo) -> bool:
        if not (procedures or info.data.get("arena_facts", True) or info.data.get("arena_sums", True)):
            raise PydanticCustomError("no_kinds", "with arena_facts off, the arena needs arena_sums or arena_procedures on")
        return procedures


class EvalConfig(Strict):
    heldout: str = Field(
        "arena",
        description="the questions the student is judged on after each iteration: 'arena', 'none', or a question "
        "file (Vicuna/MT-bench turns, Self-Instruct, or JSONL with instruction)",
    )
    heldout_size: int = Field(
        200, ge=1, description="with heldout: arena, how many questions the arena draws (any that is also a seed is left out)"
    )


class BudgetConfig(Strict):
    max_usd: float | None = Field(
        None, gt=0, description="stop cleanly before the run's LLM spend would pass this; resumable"
    )


class RunConfig(Strict):
    teacher: RoleConfig = Field(
        RoleConfig(model="arena-teacher"),
        description="the role whose answers the student is trained to imitate and is compared with",
    )
    referee: RoleConfig = Field(
        RoleConfig(model="arena-referee", decoding=DecodingConfig(temperature=0.2, max_tokens=512)),
        description="the role that scores the teacher's and the student's answers to tell hard instructions from easy ones",
    )
    generator: RoleConfig = Field(
        RoleConfig(model="arena-generator", decoding=DecodingConfig(temperature=1.0, max_tokens=256)),
        description="the role that writes each iteration's new instructions from parent instructions",
    )
    judge: RoleConfig = Field(
        RoleConfig(model="arena-judge", decoding=DecodingConfig(temperature=0.2, max_tokens=512)),
        description="the role that scores the student's answers to the held-out questions against the teacher's",
    )
    student: StudentConfig = Field(StudentConfig(), description="the model being distilled: how it starts, trains and answers")
    loop: LoopConfig = Field(LoopConfig(), description="the adversarial loop: iterations, hardness and new instructions")
    data: DataConfig = Field(DataConfig(), description="where the seed instructions come from and how they are read")
    evaluation: EvalConfig = Field(EvalConfig(), description="the held-out questions the student is judged on")
    budget: BudgetConfig = Field(BudgetConfig(), description="a spending limit on the run's LLM calls")
    threads: int | None = Field(None, ge=1, description="torch CPU threads; default: all cores")

    def torch_threads(self) -> int:
        return self.threads or os.cpu_count() or 1


# --- loading -------------------------------------------------------------------------------


def _node_line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for k, v in node.value:
            if k.value == str(key):
                line, node = k.start_mark.line + 1, v
                break
        else:
            break
    return line


def _merge(base: dict, over: dict) -> dict:
    """`over` laid onto `base`, section by section, so a partial section keeps its defaults."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    cur = data
    for k in keys[:-1]:
        if cur.get(k) is None:  # an optional section left out (e.g. a role's price) starts empty
            cur[k] = {}
        nxt = cur[k]
        if not isinstance(nxt, dict):
            raise LionError(f"--set {dotted}: '{k}' is not a section.")
        cur = nxt
    cur[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise LionError(f"--set {text!r} must look like dotted.key=value.")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def load_config(path: Path | None, overrides: list[str] = ()) -> RunConfig:
    """Load a YAML config (or the defaults when `path` is None) and apply `--set` overrides."""
    node, data, source = None, {}, "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise LionError(f"{path}: config file not found.") from None
        except IsADirectoryError:
            raise LionError(f"{path}: is a folder, not a config file.") from None
        except UnicodeDecodeError:
            raise LionError(f"{path}: config file is not UTF-8 text.") from None
        try:
            node = yaml.compose(text)
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f", line {mark.line + 1}" if mark else ""
            problem = getattr(e, "problem", None) or "invalid YAML"
            raise LionError(f"{path}{where}: {problem}.") from None
        if not isinstance(data, dict):
            raise LionError(f"{path}, line 1: a config must be a mapping of sections.")
    data = _merge(RunConfig().model_dump(mode="json"), data)
    set_keys = []
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(data, key, value)
        set_keys.append(key)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc)
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        # a key set inside the refused one counts too: `--set x.arena.noise=1` sets x.arena
        if any(dotted == k or dotted.startswith(k + ".") or k.startswith(dotted + ".") for k in set_keys):
            raise LionError(f"--set {dotted}: {what}.") from None
        line = _node_line(node, loc)
        where = f", line {line}" if line else ""
        raise LionError(f"{source}{where}, field '{dotted}': {what}.") from None


def dump_config(cfg: RunConfig) -> str:
    """The resolved config as YAML; roles carry no secrets (keys come from the environment)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
