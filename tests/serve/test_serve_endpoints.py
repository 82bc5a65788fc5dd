"""The endpoint check and `lion eval` against a real `transformers serve`.

It loads a model folder on the first request that names it and lists only the models it has
in memory (and those of its Hugging Face cache, empty here), so a folder it has not loaded
yet is not listed; a path that does not exist is answered with HTTP 500 "Internal Server
Error" (the reason goes only to its own log)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hf_serve import free_port

from lion.core.config import load_config
from lion.core.errors import LionError
from lion.llm.roles import check_endpoints
from lion.loop.runner import run_loop
from run_cli import lion

CONFIGS = Path(__file__).parents[2] / "configs"


def teacher_at(url: str, model: str | Path):
    """The default config (every role played by the arena, in this process) with the teacher at `url`."""
    return load_config(None, ["threads=1", "teacher.backend=openai", f"teacher.model={model}", f"teacher.base_url={url}",
                              "teacher.timeout_s=30"])


def test_a_model_folder_the_server_has_not_loaded_yet_is_accepted(tiny_models, loaded):
    """Intended behaviour: a folder missing from /v1/models is not refused for that alone,
    since the server loads it when it is first asked for it."""
    _, not_loaded = tiny_models
    listed = loaded.listed()
    assert listed and str(not_loaded) not in listed  # the server lists another model, not this one
    check_endpoints(teacher_at(loaded.url, not_loaded))


@pytest.mark.parametrize("listing", ["another model", "nothing"])
def test_a_misspelt_model_path_is_refused_before_the_run_folder_is_made(request, tmp_path, tiny_model, hf_server, listing):
    """Intended behaviour: the check asks the server for the model, and its refusal (here HTTP
    500, "Internal Server Error") stops the run in one sentence that names the role and the
    model, before the run folder exists; whether the server lists other models or none."""
    if listing == "nothing":
        hf_server.post("/reset", {})
        assert hf_server.listed() == []
    else:
        request.getfixturevalue("loaded")
    misspelt = tiny_model.with_name("tinny")
    out = tmp_path / "run"
    with pytest.raises(LionError) as refused:
        run_loop(teacher_at(hf_server.url, misspelt), out, lambda m: None)
    message = str(refused.value)
    assert "teacher" in message and str(misspelt) in message, message
    assert "Internal Server Error" in message, message  # the server's own answer
    assert not out.exists()


def test_a_refused_connection_says_it_could_not_connect(tmp_path, tiny_model):
    """Intended behaviour: nothing listening at base_url reads as a connection that could not
    be made, not as a time-out, and stops the run before the run folder exists."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    out = tmp_path / "run"
    with pytest.raises(LionError) as refused:
        run_loop(teacher_at(url, tiny_model), out, lambda m: None)
    message = str(refused.value)
    assert url in message and re.search(r"(could not|cannot|can't|unable to) (connect|reach)", message, re.I), message
    assert "timed out" not in message.lower() and "timeout" not in message.lower(), message
    assert not out.exists()


def test_lion_eval_with_a_candidate_whose_endpoint_fails_stops_naming_it(tmp_path, tiny_model, hf_server, arena):
    """Intended behaviour: a candidate whose every answer fails (the server cannot load its
    model) ends `lion eval` with a non-zero exit and one sentence naming the candidate, rather
    than a table with the candidate scored on nothing."""
    questions = [{"id": f"q{i}", "instruction": text} for i, text in
                 enumerate(["Name the capital of France.", "Give the plural of mouse.", "What sound does an owl make?"])]
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    answers = [{"id": q["id"], "answer": a} for q, a in zip(questions, ["Paris.", "Mice.", "Hoot."])]
    (tmp_path / "reference.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    broken = {"teacher": {"backend": "openai", "model": str(tiny_model.with_name("no-such-model")),
                          "base_url": hf_server.url, "timeout_s": 30, "max_attempts": 2, "backoff_s": 0.05,
                          "backoff_max_s": 0.1, "price": {"input_per_mtok": 0, "output_per_mtok": 0}}}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    r = lion("eval", "--questions", "questions.jsonl", "--reference", "ref=reference.jsonl",
             "--candidate", "same=reference.jsonl", "--candidate", "broken=broken.yaml:teacher",
             "--judge", str(CONFIGS / "arena-http.yaml"), "--set", f"judge.base_url={arena.url}", "--set", "threads=1",
             "--out", "eval", cwd=tmp_path)
    said = (r.stdout + r.stderr).strip()
    assert r.returncode != 0, said
    errors = [line for line in said.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken" in errors[0] and "Traceback" not in said, said
