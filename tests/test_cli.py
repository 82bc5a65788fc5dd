"""The command line as a user meets it: one sentence and a non-zero exit for bad input."""

import json
from pathlib import Path

import pytest

from run_cli import lion
from small_run import SMALL

ROOT = Path(__file__).parents[1]
CONFIG = ROOT / "configs" / "arena.yaml"


def sets(*extra: str) -> list[str]:
    return [a for s in [*SMALL, *extra] for a in ("--set", s)]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("seeds.jsonl", '{"instruction": "Say hi to me."}\n{"instruction": "oops"\n', "seeds.jsonl, line 2: invalid JSON"),
        ("seeds.json", '[{"instruction": "Say hi to me."},\n {"output": "x"}]',
         "seeds.json, line 2: the record has no 'instruction' field"),
        ("seeds.jsonl", "", "seeds.jsonl: the file is empty"),
    ],
)
def test_bad_seed_file(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    r = lion("run", str(CONFIG), "--out", "run", *sets(f"data.seeds={name}"), cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1
    assert not (tmp_path / "run" / "pools").exists()  # nothing half-made


@pytest.mark.parametrize(
    "config, message",
    [
        ("loop:\n  iterations: 2\n  tua: 1.0\n", "bad.yaml, line 3, field 'loop.tua': unknown key."),
        ("loop:\n  iterations: two\n", "bad.yaml, line 2, field 'loop.iterations': Input should be a valid integer"),
    ],
)
def test_bad_config(tmp_path, config, message):
    (tmp_path / "bad.yaml").write_text(config)
    r = lion("run", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()


def test_unknown_scheduler_is_refused_before_the_run_starts(tmp_path):
    r = lion("run", str(CONFIG), "--out", "run", *sets("student.train.lr_scheduler=cosin"), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "config field 'student.train.lr_scheduler': unknown scheduler 'cosin'" in r.stderr
    assert not (tmp_path / "run").exists()


def test_estimate_predicts_a_run_without_touching_anything(tmp_path):
    r = lion("estimate", str(CONFIG), "--json", *sets("teacher.price.input_per_mtok=1", "teacher.price.output_per_mtok=2"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {row["role"]: row for row in json.loads(r.stdout)}
    # SMALL: 60 seeds, N = 20, 2 iterations: the teacher answers the seeds and N per iteration, every
    # answer trained on (the last N by the closing imitation); the held-out set is what is left of 40 after seeds
    heldout = rows["teacher"]["calls"] - 60 - 2 * 20
    assert 0 < heldout <= 40
    assert rows["referee"]["calls"] == 2 * (60 + 80) and rows["referee"]["calls_at_most"] == 4 * 2 * (60 + 80)
    assert rows["generator"]["calls"] == 40 and rows["judge"]["calls"] == 2 * heldout * 4  # before, 1, 2, closing
    assert rows["teacher"]["cost_usd_at_most"] > 0 and rows["teacher"]["completion_tokens"] is None
    table = lion("estimate", str(CONFIG), *sets(), cwd=tmp_path)
    assert table.returncode == 0 and "max calls" in table.stdout and "teacher" in table.stdout
    assert list(tmp_path.iterdir()) == []
    missing = lion("estimate", str(CONFIG), "--calibrate", "nowhere", cwd=tmp_path)
    assert missing.returncode == 2 and "nowhere: not a run folder" in missing.stderr


@pytest.mark.parametrize("setup, backend", [("arena", "arena"), ("openai", "openai"), ("local", "hf_local")])
def test_init_writes_a_starter_config_that_loads(tmp_path, setup, backend):
    from lion.core.config import load_config

    r = lion("init", setup, "--out", "mine.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert load_config(tmp_path / "mine.yaml").teacher.backend == backend
    text = (tmp_path / "mine.yaml").read_text()
    assert text.startswith("# ")  # commented
    # the commands in its comments name the file written, not the one it was copied from
    assert "configs/" not in text and "lion run mine.yaml" in r.stdout
    assert ("#   lion run mine.yaml" in text) == (setup != "arena")  # the arena's comments name no file
    again = lion("init", setup, "--out", "mine.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "mine.yaml already exists" in again.stderr and "Traceback" not in again.stderr


def test_version_and_the_short_help_flag(tmp_path):
    from importlib.metadata import version

    import lion as package

    shown = lion("--version", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.strip() == f"lion-distill {version('lion-distill')}"
    assert version("lion-distill") == package.__version__
    for args in (["-h"], ["run", "-h"], ["arena", "serve", "-h"]):
        helped = lion(*args, cwd=tmp_path)
        assert helped.returncode == 0 and "Usage:" in helped.stdout and "--help" in helped.stdout, args


def test_run_threads_is_the_threads_field(monkeypatch):
    from typer.testing import CliRunner

    import lion.cli as cli

    seen = {}
    monkeypatch.setattr(cli, "_run", lambda config, out, overrides: seen.update(overrides=overrides))
    done = CliRunner().invoke(cli.app, ["run", "x.yaml", "--threads", "3", "--set", "loop.iterations=1"])
    assert done.exit_code == 0 and seen["overrides"] == ["loop.iterations=1", "threads=3"]
    assert CliRunner().invoke(cli.app, ["run", "x.yaml", "--threads", "0"]).exit_code == 2


def _commands(command, path=()):
    """Every command of the click app, groups and their subcommands included, with its argv path."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_help_shows_flags_as_flags_and_no_python_type_names():
    import re

    import typer
    from typer.testing import CliRunner

    from lion.cli import app

    walked = list(_commands(typer.main.get_command(app)))
    assert {" ".join(path) for path, _ in walked} >= {"", "run", "status", "export-data", "arena", "arena serve"}
    type_names = re.compile(r"<(bool|str|int|float|path)\b[^>]*>|list\[|\|\s*none|optional", re.IGNORECASE)
    for path, command in walked:
        shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert shown.exit_code == 0, path
        assert not type_names.search(shown.output), (path, type_names.search(shown.output))
        ctx = typer.Context(command, info_name="lion")
        for param in command.get_params(ctx):  # the help option included
            if param.param_type_name != "option":
                assert param.display_type_rich(ctx) in ("PATH", "TEXT"), (path, param.name)
                continue
            if param.type_descriptor.annotation is bool:
                assert param.is_flag, (path, param.opts)
            if not param.is_flag:
                assert param.display_type_rich(ctx), (path, param.opts)  # a value has a placeholder
                continue
            # the flag's row reads: its names, then straight away its help, no value placeholder between
            names = r"\s+".join(re.escape(o) for o in [*param.opts, *param.secondary_opts]
                                if o.startswith("--")) + r"(\s+-\w)?"
            assert re.search(names + r"\s+" + re.escape(param.help.split()[0]) + r"\s", shown.output), (path, param.opts)
    assert CliRunner().invoke(app, ["export-data", "run", "--out", "data", "--preference", "true"]).exit_code == 2
