"""The arena's student: a tiny Llama with a word-level tokenizer, built from scratch offline.

It is saved as an ordinary Hugging Face model folder, so training and generation treat it
exactly like any downloaded causal LM. The tokenizer is word-level because a model this small
learns whole-word answers far faster than it learns to spell them from sub-word pieces; it
keeps case and spacing (spaces are folded into the next word, as `▁word`) so that decoding
gives back the very text the teacher wrote.

Words a rule works on letter by letter (the arena's plurals, past tenses and last letters, see
`lion.arena.families.spelled_words`) can be `spelled`: such a word is never a token of its own
but a first letter and continuing letter pieces (`##u`), so "tulip" and "tulips" share their
pieces and a rule over letters can be learned. With nothing spelled the tokenizer is plain
word-level, exactly as before.
"""

from __future__ import annotations

import shutil
import string
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from lion.core.atomic import replace_dir
from lion.core.config import TinyStudentConfig
from lion.core.errors import LionError
from lion.core.prompts import template
from lion.student.model import library_bars_off

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPACE = "\u2581"
PROMPT_TEMPLATES = ("student_alpaca", "student_alpaca_input")
PIECE = "##"  # marks a letter that continues a spelled word


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Words with their leading space, punctuation and single digits, each a token of its own."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"[^\S ]"), behavior="isolated"),  # newlines, tabs
            pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="never"),
            pre_tokenizers.Punctuation(behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )


def _training_texts(texts: Iterable[str]) -> Iterator[str]:
    """The student prompt format, whose headers must never be unknown, then the caller's texts.

    Each text also comes with a space in front: a word that opens a text ("Give ...") is
    written `▁Give` in the middle of a sentence, and both forms belong in the vocabulary.
    """
    for name in PROMPT_TEMPLATES:
        yield template(name).format(instruction="", input="")
    for text in texts:
        yield text
        yield " " + text


def _spelling(tok: Tokenizer, spelled: Collection[str]) -> Tokenizer:
    """The trained word-level tokenizer with `spelled` words written in letter pieces.

    A spelled word, and any word that is the start of one (which would otherwise be taken as
    its first piece), leaves the vocabulary; each letter comes in three pieces: opening a text,
    opening a word after a space, and continuing one. Every other word keeps its own token.
    """
    low = {w.lower() for w in spelled}
    starts = {w[:i] for w in low for i in range(2, len(w) + 1)}
    kept = sorted(
        (i, t) for t, i in tok.get_vocab().items() if len(t.lstrip(SPACE)) < 2 or t.lstrip(SPACE).lower() not in starts
    )
    vocab = {t: n for n, (_, t) in enumerate(kept)}
    for letter in string.ascii_letters:
        for piece in (letter, SPACE + letter, PIECE + letter):
            vocab.setdefault(piece, len(vocab))
    out = Tokenizer(
        models.WordPiece(vocab, unk_token=UNK, continuing_subword_prefix=PIECE, max_input_chars_per_word=1000)
    )
    out.pre_tokenizer = tok.pre_tokenizer
    out.decoder = decoders.Sequence(
        [decoders.Replace(PIECE, ""), decoders.Metaspace(replacement=SPACE, prepend_scheme="never")]
    )
    return out


def train_tokenizer(
    texts: Iterable[str], max_positions: int, spelled: Collection[str] = ()
) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over every word in `texts`; it prepends BOS like Llama's does.
    Words in `spelled` are written in letter pieces instead (see the module docstring)."""
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.pre_tokenizer = _pre_tokenizer()
    tok.decoder = decoders.Metaspace(replacement=SPACE, prepend_scheme="never")
    trainer = trainers.WordLevelTrainer(special_tokens=[PAD, UNK, BOS, EOS], min_frequency=1)
    tok.train_from_iterator(_training_texts(texts), trainer)
    if spelled:
        tok = _spelling(tok, spelled)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        clean_up_tokenization_spaces=False,
        model_max_length=max_positions,
    )


def llama_config(tokenizer: PreTrainedTokenizerFast, cfg: TinyStudentConfig) -> LlamaConfig:
    """A small Llama sized by `cfg`; tied embeddings keep the parameter count down."""
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=4 * cfg.hidden_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def build_tiny_student(
    texts: Iterable[str], out_dir: Path, cfg: TinyStudentConfig, seed: int, spelled: Collection[str] = ()
) -> None:
    """Write an untrained student to `out_dir`; the same texts and seed give the same weights.

    The folder is assembled under a staging name and moved into place in one step, so a
    killed build never leaves a folder that looks like a finished student.
    """
    if cfg.hidden_size % (2 * cfg.heads):
        raise LionError(
            f"student.tiny.hidden_size ({cfg.hidden_size}) must be a multiple of twice "
            f"student.tiny.heads ({cfg.heads}), so every head has an even size for rotary positions."
        )
    out_dir = Path(out_dir)
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer = train_tokenizer(texts, cfg.max_positions, spelled)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(llama_config(tokenizer, cfg))
    with library_bars_off():
        model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    replace_dir(staging, out_dir)
