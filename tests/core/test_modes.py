"""The loop's modes are decided in one place: `lion.core.modes`.

Every other module asks the chosen mode object; none compares a mode's name, so a new mode is
a class and a registry line, and nothing else needs to learn of it.
"""

import ast
from pathlib import Path

import pytest

from lion.core import modes
from lion.core.config import LoopConfig, load_config

PACKAGE = Path(modes.__file__).resolve().parents[1]
REGISTRY = {PACKAGE / "core" / "modes.py"}
FIELDS = {"judged", "parents", "preference", "signal", "allocation"}  # the loop fields that name a mode (even_kinds is a plain switch)
# names that only a mode choice uses; 'none', 'random', 'referee' and 'hard' also name other settings, roles and sides
NAMES = (set(modes.JUDGED) | set(modes.OLD_PARENTS) | set(modes.PREFERENCES) | set(modes.SIGNALS)
         | set(modes.ALLOCATIONS)) - {"none", "referee", "hard"}


def _mode_choices(path: Path) -> list[str]:
    """Where a module decides by a mode: a comparison with a mode's name, or a read of a mode
    field off the loop's config (`cfg.loop.judged`, `loop.parents`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            values = [node.left, *node.comparators]
            values += [e for v in values if isinstance(v, (ast.Tuple, ast.List, ast.Set)) for e in v.elts]
            if any(isinstance(v, ast.Constant) and v.value in NAMES for v in values):
                found.append(f"{path.name}:{node.lineno}: compares a mode's name")
        if isinstance(node, ast.Attribute) and node.attr in FIELDS:
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id == "loop") or (isinstance(owner, ast.Attribute) and owner.attr == "loop"):
                found.append(f"{path.name}:{node.lineno}: reads loop.{node.attr}")
    return found


def test_no_module_outside_the_registry_decides_by_a_mode_name():
    config = PACKAGE / "core" / "config.py"  # declares the fields and hands out the chosen objects
    found = [f for path in sorted(PACKAGE.rglob("*.py")) if path not in REGISTRY | {config} for f in _mode_choices(path)]
    assert found == []


def test_the_check_finds_a_comparison_and_a_read(tmp_path):
    src = tmp_path / "x.py"
    src.write_text("if cfg.loop.judged == 'held_back':\n    pass\nx = loop.parents\ny = mode in ('dpo',)\n")
    assert sorted(_mode_choices(src)) == ["x.py:1: compares a mode's name", "x.py:1: reads loop.judged",
                                          "x.py:3: reads loop.parents", "x.py:4: compares a mode's name"]
    src.write_text("y = mode == 'dpo'\n")
    assert _mode_choices(src) == ["x.py:1: compares a mode's name"]


def test_the_config_offers_exactly_the_registered_modes():
    fields = LoopConfig.model_fields
    for field, registry in (("judged", modes.JUDGED), ("parents", modes.PARENTS), ("preference", modes.PREFERENCES),
                            ("allocation", modes.ALLOCATIONS)):
        assert set(fields[field].annotation.__args__) == set(registry)
        assert LoopConfig(**{field: fields[field].default}).model_dump()[field] in registry
    # the signal is checked against its registry when read, so the benchmark's oracle can join it
    assert fields["signal"].default in modes.SIGNALS
    with pytest.raises(ValueError, match="unknown signal 'oracle'; choose one of referee, student_loss"):
        LoopConfig(signal="oracle", judged="held_back")


def test_every_signal_has_its_splitter():
    from lion.loop.signals import SPLITTERS

    assert set(SPLITTERS) == set(modes.SIGNALS)


@pytest.mark.parametrize(("old", "parents", "even"), [("referee-even", "referee", True), ("even", "random", True),
                                                      ("referee", "referee", False), ("random", "random", False)])
def test_the_old_parents_spelling_reads_as_the_new_pair(tmp_path, old, parents, even):
    config = tmp_path / "run.yaml"
    config.write_text(f"loop:\n  parents: {old}\n")
    loop = load_config(config).loop
    assert (loop.parents, loop.even_kinds, loop.uses_split) == (parents, even, parents == "referee")
    assert load_config(None, [f"loop.parents={old}"]).loop == loop


def test_each_judging_mode_says_what_it_judges_and_with_which_student():
    train, cache, held = ["t"], ["c1", "c2"], ["h"]
    got = {name: (m.pool(train, cache, held), m.student(3), m.before_imitation, m.judged_count(0.25, 8, 20))
           for name, m in modes.JUDGED.items()}
    assert got == {"cache_pool": (cache, 3, False, 20), "unseen": (train, 2, True, 8), "held_back": (held, 3, False, 2)}
