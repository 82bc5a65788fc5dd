"""A tiny chat model built on the spot, `transformers serve` started on it, and a counting proxy.

Nothing is downloaded. The model is a real Qwen2 folder (config, safetensors weights, a BPE
tokenizer trained here on the arena's texts, a ChatML chat template) that `transformers serve`
loads like any other; only its weights are set by hand, so that what it says is known:

- sampled (temperature above 0), it writes words of the arena's vocabulary drawn at random and
  ends within a few dozen tokens, so a generator's reply is sometimes a usable one-line
  instruction and sometimes not;
- greedy (temperature 0), about half of the prompts get an empty answer cut off at max_tokens
  (it repeats `<|endoftext|>`, which the server leaves out of the text) and the other half the
  one word `MARK` and a proper end: which half depends on the prompt's words.

How: every token's embedding holds a constant 1, a random sign (+1 or -1; `<|endoftext|>` +1,
the other special tokens 0) and, for `MARK` only, a marker. The first layer's attention has
zero queries and keys, so it averages over the whole context, and copies the mean sign into
one dimension of the residual stream; nothing else writes to it. The output layer gives every
ordinary token the logit 0, `<|endoftext|>` and `MARK` a fixed logit plus or minus the mean
sign (centred on its median over arena prompts, so the halves are even), `<|im_end|>` (the end)
a smaller fixed logit, and after `MARK` the end a large one; a token that is not printable
ASCII text (a lone byte of a longer character, a newline) gets a very low one. Each
`<|endoftext|>` added to the context raises the mean, so a greedy answer that starts empty
stays empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PAD, START, END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
MARK = "MARK"
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
HIDDEN = 64
# logits in units of the residual stream (the final norm scales them by about 5.7):
# a fixed part for <|endoftext|> and MARK, their swing with the mean sign, the end's fixed part,
# and the end's lead after MARK
FIXED, SWING, ENDING, AFTER_MARK = 0.53, 1.0, 0.44, 3.0
BANNED = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_tiny_model(folder: Path, prompts: list[str], seed: int = 0) -> Path:
    """Write the model folder (see the module's docstring) and load it back once through
    `from_pretrained`, as the server will. `prompts` are user messages whose median decides
    which half of the greedy answers is empty."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from lion.arena import corpus

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=[PAD, START, END], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([*corpus(False), f" {MARK}"], trainer)
    bpe.add_tokens([f" {MARK}"])  # one token, whatever the merges learned
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=END, pad_token=PAD, chat_template=CHATML,
                                  clean_up_tokenization_spaces=False)
    vocab = len(tok)
    pad, end = tok.convert_tokens_to_ids(PAD), tok.convert_tokens_to_ids(END)
    mark = tok.convert_tokens_to_ids(f" {MARK}")
    specials = set(tok.all_special_ids)

    config = Qwen2Config(
        vocab_size=vocab, hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=4096, tie_word_embeddings=False, pad_token_id=pad,
        eos_token_id=end, bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for layer in model.model.layers:
            layer.input_layernorm.weight.fill_(1.0)
            layer.post_attention_layernorm.weight.fill_(1.0)
        model.model.norm.weight.fill_(1.0)
        emb = model.model.embed_tokens.weight
        emb[:, 0] = 1.0
        sign = torch.randint(0, 2, (vocab,), generator=torch.Generator().manual_seed(seed)).float() * 2 - 1
        emb[:, 1] = sign
        for i in specials:
            emb[i, 1] = 0.0
        emb[pad, 1] = 1.0  # each <|endoftext|> raises the mean sign: an empty start stays empty
        emb[mark, 3] = 1.0
        attn = model.model.layers[0].self_attn
        attn.v_proj.weight[0, 1] = 1.0  # head 0 carries the (normed) sign ...
        attn.o_proj.weight[2, 0] = 1.0 / 8  # ... averaged over the context into dimension 2
        centre = _median_mean_sign(model, tok, prompts)
        head = model.lm_head.weight
        head[pad, 0], head[pad, 2] = FIXED - SWING * centre, SWING
        head[mark, 0], head[mark, 2], head[mark, 3] = FIXED + SWING * centre, -SWING, -AFTER_MARK
        head[end, 0], head[end, 3] = ENDING, AFTER_MARK
        for i in range(vocab):  # bytes that are not printable ASCII on their own (newlines too) never come out
            text = tok.decode([i])
            if i not in specials and not (text.isascii() and text.isprintable()):
                head[i, 0] = -BANNED
    # chat models ship do_sample=True; the server then samples at temperature > 0 and is greedy at 0
    model.generation_config.update(do_sample=True, top_k=0, top_p=1.0, temperature=1.0, eos_token_id=end,
                                   pad_token_id=pad, bos_token_id=None)
    folder = Path(folder)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    AutoModelForCausalLM.from_pretrained(folder)
    AutoTokenizer.from_pretrained(folder)
    return folder


def _median_mean_sign(model, tok, prompts: list[str]) -> float:
    import torch

    values = []
    with torch.no_grad():
        for text in prompts:
            ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                          return_tensors="pt", return_dict=True)["input_ids"]
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[1]
            values.append(float(hidden[0, -1, 2]))
    return float(sorted(values)[len(values) // 2])


@dataclass
class TransformersServer:
    """`transformers serve` in its own process group, listening on 127.0.0.1 only."""

    proc: subprocess.Popen
    port: int
    log: Path
    started_s: float = 0.0  # from the command to the first answer of /health
    first_load_s: float | None = None  # the first request for a model: loading it, then answering

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.root + "/v1"

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.root + path, timeout=30) as reply:
            return json.load(reply)

    def post(self, path: str, body: dict, timeout: float = 120) -> dict:
        request = urllib.request.Request(self.root + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.load(reply)

    def listed(self) -> list[str]:
        return [m["id"] for m in self.get("/v1/models")["data"]]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def start_transformers_serve(log: Path, hf_home: Path, deadline_s: float = 120) -> TransformersServer:
    """Start the server and wait (at most `deadline_s`) until /health answers. Its Hugging Face
    home is `hf_home`, so it lists no model of this machine's cache and downloads nothing."""
    port = free_port()
    script = Path(sys.executable).with_name("transformers")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "transformers.cli.transformers"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--model-timeout", "3600",
                "--log-level", "info"]
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false", "NO_COLOR": "1"}
    start = time.monotonic()
    with open(log, "wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = TransformersServer(proc, port, log)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if server.get("/health").get("status") == "ok":
                break
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() - start > deadline_s:
            server.stop()
            raise RuntimeError(f"transformers serve did not answer within {deadline_s:g} s:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    server.started_s = time.monotonic() - start
    return server


@dataclass
class Exchange:
    """One request through the proxy and what came back."""

    method: str
    path: str
    body: dict | None
    status: int
    reply: dict | None


@dataclass
class CountingProxy:
    """Passes every request on to `upstream` unchanged and keeps a record of it, so a test can
    count the requests that reached the server and add up the usage it reported."""

    upstream: str
    port: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    _server: object = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def completions(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.method == "POST" and e.path.endswith("/chat/completions")]

    def start(self) -> CountingProxy:
        import aiohttp
        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        sessions: list[aiohttp.ClientSession] = []  # made in the proxy's own event loop, on the first request

        async def forward(request: Request) -> Response:
            if not sessions:
                sessions.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)))
            raw = await request.body()
            headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "authorization", "accept")}
            async with sessions[0].request(request.method, self.upstream + request.url.path, data=raw, headers=headers,
                                           params=list(request.query_params.multi_items())) as upstream:
                content = await upstream.read()
                keep = {k: v for k, v in upstream.headers.items() if k.lower() in ("content-type", "retry-after")}
                status = upstream.status
            self.exchanges.append(Exchange(request.method, request.url.path, _json(raw), status, _json(content)))
            return Response(content, status_code=status, headers=keep)

        @contextlib.asynccontextmanager
        async def lifespan(app):
            yield
            for session in sessions:
                await session.close()

        app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])], lifespan=lifespan)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self._server = server
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the counting proxy did not start within 30 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)


def _json(raw: bytes) -> dict | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
