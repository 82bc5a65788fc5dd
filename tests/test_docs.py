"""Every command and config the README and docs/ show works as written.

Shell blocks run in order, page by page, in a folder of their own beside one demo run; a block
marked parse only (it needs a key, the Hub, a GPU, or hours) still has its `lion` commands read by
the real argument parser. YAML blocks load as a config or a role block. The demo figures the
README quotes are compared with a fresh demo run.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.core
import yaml

from docs_blocks import ALL, LANGUAGES, PAGES, ROOT, commands, parse_lion
from lion.core.config import load_config
from lion.observe import figures

SHARED = ROOT.parent / "shared"
BIN = Path(sys.executable).parent
ENDPOINT_BLOCKS = [b for b in ALL if b.page.name == "endpoints.md" and b.language == "yaml"]
SECTIONS = {"teacher", "referee", "generator", "judge", "student", "loop", "data", "evaluation", "budget", "threads"}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env['PATH']}", "LION_QUIET": "1", "HF_HUB_OFFLINE": "1"}


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(config):
    load_config(config)


def test_every_fence_names_its_language():
    """An unnamed block would be neither run nor loaded; `text` says a block is not a command."""
    unnamed = [b.where for b in ALL if b.language not in LANGUAGES]
    assert not unnamed, f"fenced blocks without one of {sorted(LANGUAGES)}: {unnamed}"


@pytest.mark.parametrize("block", [b for b in ALL if b.language == "yaml"], ids=lambda b: b.where)
def test_every_yaml_block_loads(block, tmp_path):
    data = yaml.safe_load(block.text)
    path = tmp_path / "run.yaml"
    if set(data) <= SECTIONS:  # a config, or a part of one
        path.write_text(block.text, encoding="utf-8")
        load_config(path)
    else:  # a role block: what goes under teacher:, referee:, generator: or judge:
        path.write_text(yaml.safe_dump({"teacher": data}), encoding="utf-8")
        assert load_config(path).teacher.model == data["model"]


def test_the_endpoint_page_covers_every_server():
    backends = [yaml.safe_load(b.text)["backend"] for b in ENDPOINT_BLOCKS]
    assert len(ENDPOINT_BLOCKS) >= 8 and {"openai", "azure", "hf_local"} <= set(backends)


@pytest.mark.parametrize("block", [b for b in ALL if b.language == "bash"], ids=lambda b: b.where)
def test_every_shell_command_parses(block):
    """`lion` commands go through the real parser; a script or test file a command names exists."""
    for words in commands(block.text):
        program = Path(words[0]).name
        try:
            if program == "lion":
                parse_lion(words[1:])
        except typer.TyperException as e:
            pytest.fail(f"{block.where}: `{' '.join(words)}`: {e.format_message()}")
        named = [w for w in words[1:] if re.match(r"^(benchmarks|tests|configs)/[\w/.-]+$", w)]
        missing = [w for w in named if not (ROOT / w).exists()]
        assert not missing, f"{block.where}: `{' '.join(words)}` names files that do not exist: {missing}"


def test_parse_only_blocks_say_why():
    vague = [b.where for b in ALL if b.parse_only and not re.match(r"parse only, because \w+", b.mark)]
    assert not vague, f"blocks marked parse only without a reason: {vague}"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """`lion demo --threads 1` as a newcomer types it, stopped by Ctrl-C once its first iteration
    is done: the figures of the README's first rows, and the run the docs' commands look at."""
    where = tmp_path_factory.mktemp("demo")
    proc = subprocess.Popen([str(BIN / "lion"), "demo", "--threads", "1"], cwd=where, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("iteration 2"):
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=120)
    assert any(s.startswith("iteration 2") for s in seen), "".join(seen) + rest
    return where / "runs" / "demo-seed42"


def _rows(text: str, first: str) -> dict[str, str]:
    """The rows of the block's table whose header starts with `first`, by their first cell."""
    inside = text.split(figures.START, 1)[1].split(figures.END, 1)[0].split("\n")
    start = next(i for i, line in enumerate(inside) if line.startswith(f"| {first} "))
    rows = {}
    for line in inside[start + 2:]:
        if not line.startswith("|"):
            break
        rows[line.split("|")[1].strip()] = line
    return rows


def _column(text: str, first: str, column: int) -> dict[str, str]:
    return {k: v.split("|")[column + 1].strip() for k, v in _rows(text, first).items()}


def test_the_readme_demo_figures_are_a_fresh_demos(demo_run):
    """The README's before and first-iteration figures are what a fresh `lion demo` prints today;
    the later rows come from the same code, run to the end (python -m lion.observe.figures)."""
    fresh, readme = figures.block(demo_run), (ROOT / "README.md").read_text(encoding="utf-8")
    fresh_rows, readme_rows = _rows(fresh, "iteration"), _rows(readme, "iteration")
    for label in ("before", "1"):
        assert readme_rows[label] == fresh_rows[label]
    fresh_kinds, readme_kinds = _column(fresh, "kind", 1), _column(readme, "kind", 1)
    shown = fresh_kinds.keys() & readme_kinds.keys()  # the kinds judged most over the iterations each run had
    assert len(shown) >= 6 and {k: readme_kinds[k] for k in shown} == {k: fresh_kinds[k] for k in shown}
    assert len(readme_rows) == 5, "the README shows the whole demo: before, three iterations and the closing one"


def _sandbox(tmp_path: Path, demo_run: Path) -> Path:
    """A working folder as the docs assume one: the repository's configs, scripts and tests, the demo's
    run folder, and ../shared beside it where there is one."""
    work = tmp_path / "work"
    (work / "runs").mkdir(parents=True)
    for name in ("configs", "benchmarks", "tests"):
        (work / name).symlink_to(ROOT / name)
    (work / "runs" / "demo-seed42").symlink_to(demo_run)
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED)
    return work


@pytest.mark.parametrize("page", [p for p in PAGES if any(b.language == "bash" for b in ALL if b.page == p)],
                         ids=lambda p: p.name)
def test_every_shell_block_runs(page, demo_run, tmp_path):
    work = _sandbox(tmp_path, demo_run)
    for block in [b for b in ALL if b.page == page and b.language == "bash" and not b.parse_only]:
        if block.needs_shared and not SHARED.is_dir():
            continue  # said in the summary below
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.text], cwd=work, env=_env(), text=True,
                              capture_output=True, timeout=300)
        assert done.returncode == 0, f"{block.where} failed ({done.returncode}):\n{block.text}\n{done.stdout}{done.stderr}"
    if not SHARED.is_dir() and any(b.needs_shared for b in ALL if b.page == page):
        pytest.skip(f"{page.name}: the blocks that read ../shared/data were not run: ../shared is absent")


def test_ci_runs_the_readme_test_command():
    """`.ci/run` is the README's second set-up command, quieter: what CI passes is what a user runs."""
    readme = next(b.text for b in ALL if b.page.name == "README.md" and "pytest" in b.text)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().split("\n")[-1]
    assert ci == readme.replace("pip install", "pip install -q")


def _hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference_hook", ROOT / "docs" / "hooks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_config_reference_names_every_field():
    from pydantic import BaseModel

    from lion.core.config import RoleConfig, RunConfig

    page = _hook().config_reference()

    def keys(model: type[BaseModel], prefix: str):
        for name, field in model.model_fields.items():
            nested = [a for a in (field.annotation, *getattr(field.annotation, "__args__", ()))
                      if isinstance(a, type) and issubclass(a, BaseModel)]
            yield from keys(nested[0], f"{prefix}{name}.") if nested else [f"{prefix}{name}"]

    wanted = [k for name, f in RunConfig.model_fields.items() if f.annotation is not RoleConfig
              for k in (keys(f.annotation, f"{name}.") if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
                        else [name])]
    wanted += list(keys(RoleConfig, "ROLE."))
    missing = [k for k in wanted if f"`{k}`" not in page]
    assert len(wanted) > 100 and not missing, missing


def test_the_cli_reference_has_every_command_and_option():
    from lion.cli import app

    page = _hook().cli_reference()

    def walk(group, ctx, prefix):
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            assert f"## `{prefix} {name}`" in page or f"### `{prefix} {name}`" in page, f"{prefix} {name}"
            for param in sub.params:  # an option by its flags, an argument by the name its help shows
                shown = param.opts if isinstance(param, typer.core.TyperOption) else [(param.metavar or param.name).upper()]
                assert all(o in page for o in shown), (name, shown)
            if isinstance(sub, typer.core.TyperGroup):
                walk(sub, ctx, f"{prefix} {name}")

    command = typer.main.get_command(app)
    with typer.Context(command) as ctx:
        walk(command, ctx, "lion")

