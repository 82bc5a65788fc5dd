"""Student answers: greedy, batched generation with a Hugging Face causal LM, by transformers or,
on a GPU where it is installed, by vLLM.

Greedy decoding makes an answer a function of the prompt and the batch it was computed in.
Batches are planned over the whole prompt list, so a stage that resumes after a kill and
skips the batches it already cached recomputes the others exactly as the first run would.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from transformers import BatchEncoding, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.tokenization_utils_base import VERY_LARGE_INTEGER

from lion.core.config import GenerateConfig
from lion.core.cpu_time import metered
from lion.core.errors import LionError
from lion.core.progress import warn
from lion.student.format import Format, adds_special_tokens, build_conversation, build_prompt, resolve_format
from lion.student.model import cuda_bf16, is_adapter, library_bars_off, load_model, load_tokenizer


def stop_ids(configured: int | list[int] | None, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every token that ends an answer: the model's configured ones and the tokenizer's EOS.

    Chat models often end a turn with a token other than the tokenizer's EOS, and list it
    only in their generation config.
    """
    ids = configured if isinstance(configured, list) else [configured]
    return sorted({i for i in [*ids, tokenizer.eos_token_id] if i is not None})


class StudentGenerator:
    """Prompts and answers for one student folder; nothing heavy loads until it is needed.

    The tokenizer loads on the first prompt, the model on the first batch, so a stage whose
    answers are all cached never pays for loading the model.
    """

    def __init__(
        self, model_dir: Path, cfg: GenerateConfig, prompt_format: str, threads: int
    ) -> None:
        self.model_dir = Path(model_dir)
        self.cfg = cfg
        self.wanted_format = prompt_format
        self.threads = threads
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._format: Format | None = None
        self._model: PreTrainedModel | None = None
        self._greedy: GenerationConfig | None = None
        self.tokens_generated = 0  # answer tokens so far, padding left out

    def _loaded(self) -> tuple[PreTrainedTokenizerBase, Format]:
        if self._tokenizer is None:
            tokenizer = load_tokenizer(self.model_dir)
            self._format = resolve_format(tokenizer, self.wanted_format)
            tokenizer.truncation_side = "left"  # a prompt's end holds the question's last words and the answer's header
            self._tokenizer = tokenizer
        return self._tokenizer, self._format

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self._loaded()[0]

    @property
    def format(self) -> Format:
        """The resolved prompt format (`auto` becomes one of the two)."""
        return self._loaded()[1]

    @property
    def model(self) -> PreTrainedModel:
        if self._model is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = torch.bfloat16 if cuda_bf16() else torch.float32
            with library_bars_off():
                self._model = load_model(self.model_dir, dtype).to(device).eval()
            self._greedy = GenerationConfig(
                do_sample=False,
                num_beams=1,
                max_new_tokens=self.cfg.max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=stop_ids(self._model.generation_config.eos_token_id, self.tokenizer),
            )
        return self._model

    def prompt(self, instruction: str, input: str = "") -> str:
        return build_prompt(self.tokenizer, self.format, instruction, input)

    def conversation(self, turns: list[str], answers: list[str]) -> str:
        """The prompt for the last turn of a conversation, after the student's earlier answers."""
        return build_conversation(self.tokenizer, self.format, turns, answers)

    @property
    def prompt_room(self) -> int | None:
        """The most prompt tokens the student's context (its tokenizer's `model_max_length`) holds
        beside a whole answer, but never under half the context; None where the tokenizer sets no limit.

        Past its context a model with learned positions fails on an index and one with rotary
        positions answers from positions it never saw, so a longer prompt loses its beginning
        instead, as lm-evaluation-harness does. The floor keeps a prompt where `max_new_tokens`
        is as long as the context (the tiny student's defaults): answers mostly end far sooner.
        """
        context = self.tokenizer.model_max_length
        if context >= VERY_LARGE_INTEGER:
            return None
        return max(context - self.cfg.max_new_tokens, context // 2)

    def encode(self, prompts: list[str], *, cut: bool = True, **kwargs: object) -> BatchEncoding:
        """The token ids the student answers from, each prompt cut to `prompt_room` unless `cut` is
        False (the room still goes in as max_length, which keeps transformers from warning)."""
        room = self.prompt_room
        return self.tokenizer(
            prompts, add_special_tokens=adds_special_tokens(self.format),
            truncation=cut and room is not None, max_length=room, **kwargs
        )

    @metered("student")
    def plan(self, prompts: list[str]) -> list[list[int]]:
        """Batches of prompt indices, longest prompts first, so that each batch pads little.

        The plan depends on nothing but the prompt list (ties keep list order), which is what
        lets a resumed caller skip cached batches and still reproduce the rest bit for bit.
        """
        if not prompts:
            return []
        lengths = [len(ids) for ids in self.encode(prompts, cut=False)["input_ids"]]
        room = self.prompt_room
        if room is not None and (long := sum(n > room for n in lengths)):
            warn(f"{long:,} of {len(prompts):,} prompts are longer than {room} tokens, the room the student's context "
                 f"({self.tokenizer.model_max_length}) leaves for a prompt beside student.generate.max_new_tokens "
                 f"({self.cfg.max_new_tokens}): each loses its beginning.")
            lengths = [min(n, room) for n in lengths]
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
        size = self.cfg.batch_size
        return [order[start : start + size] for start in range(0, len(order), size)]

    @metered("student")
    def run_batch(self, prompts: list[str]) -> list[str]:
        """Greedy answers to `prompts`, decoded without special tokens and stripped."""
        model = self.model
        torch.set_num_threads(self.threads)
        batch = self.encode(prompts, padding=True, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            out = model.generate(**batch, generation_config=self._greedy)
        new_tokens = out[:, batch["input_ids"].shape[1] :]
        self.tokens_generated += int((new_tokens != self.tokenizer.pad_token_id).sum())
        return [
            text.strip()
            for text in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        ]


def vllm_usable() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def engine_for(cfg: GenerateConfig) -> str:
    """The engine `cfg.engine` names, `auto` resolved; part of every student answer's cache key."""
    if cfg.engine == "vllm" and not vllm_usable():
        raise LionError(
            "config field 'student.generate.engine': vllm needs a CUDA GPU and the vllm package "
            "(pip install 'lion-distill[vllm]'); use transformers or auto on this machine."
        )
    if cfg.engine == "auto":
        return "vllm" if vllm_usable() else "transformers"
    return cfg.engine


def student_generator(model_dir: Path, cfg: GenerateConfig, prompt_format: str, threads: int) -> StudentGenerator:
    cls = VLLMStudentGenerator if engine_for(cfg) == "vllm" else StudentGenerator
    return cls(model_dir, cfg, prompt_format, threads)


class VLLMStudentGenerator(StudentGenerator):
    """The same prompts, batches and greedy decoding, generated by vLLM.

    Prompts go in as the token ids the transformers path would generate from, so templates
    and special tokens are the same. A LoRA student is served as its base model with the
    adapter applied by vLLM, unmerged.
    """

    def __init__(self, model_dir: Path, cfg: GenerateConfig, prompt_format: str, threads: int) -> None:
        super().__init__(model_dir, cfg, prompt_format, threads)
        self._llm = None
        self._adapter = None
        self._stops: list[int] = []

    def _engine(self) -> object:
        if self._llm is None:
            from vllm import LLM
            from vllm.lora.request import LoRARequest

            options: dict = {"tokenizer": str(self.model_dir), "dtype": "bfloat16" if cuda_bf16() else "auto", "seed": 0}
            if is_adapter(self.model_dir):
                adapter = json.loads((self.model_dir / "adapter_config.json").read_text(encoding="utf-8"))
                options |= {"model": adapter["base_model_name_or_path"], "enable_lora": True, "max_lora_rank": adapter["r"]}
                self._adapter = LoRARequest("student", 1, str(self.model_dir))
            else:
                options["model"] = str(self.model_dir)
            try:
                configured = GenerationConfig.from_pretrained(options["model"]).eos_token_id
            except OSError:  # a model without a generation config stops at its tokenizer's EOS
                configured = None
            self._stops = stop_ids(configured, self.tokenizer)
            self._llm = LLM(**options)
        return self._llm

    @metered("student")
    def run_batch(self, prompts: list[str]) -> list[str]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        llm = self._engine()
        greedy = SamplingParams(
            temperature=0.0, max_tokens=self.cfg.max_new_tokens, skip_special_tokens=True, stop_token_ids=self._stops
        )
        ids = self.encode(prompts)["input_ids"]
        outs = llm.generate([TokensPrompt(prompt_token_ids=p) for p in ids], greedy, lora_request=self._adapter, use_tqdm=False)
        self.tokens_generated += sum(len(o.outputs[0].token_ids) for o in outs)
        return [o.outputs[0].text.strip() for o in outs]
