"""The package's layers import downwards only.

Every import counts, including those inside functions and under TYPE_CHECKING: an import moved
into a function still ties the two modules together, it only hides the cycle.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lion"

# bottom first; a layer may import its own modules and those of the layers before it
LAYERS = ("core", "arena", "student", "llm", "data", "loop", "evaluation", "observe", "cli")


def layer_of(module: str) -> str | None:
    """The layer of a `lion...` module name; None for the package root, which holds no code."""
    parts = module.split(".")
    if parts[0] != "lion" or len(parts) == 1:
        return None
    return "cli" if parts[1] in ("cli", "__main__") else parts[1]


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every `lion` import in a source file."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("lion")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "lion":  # `from lion import core` names a subpackage
                found += [(node.lineno, f"lion.{a.name}") for a in node.names]
            elif name.startswith("lion"):
                found.append((node.lineno, name))
    return found


def upward_imports() -> list[str]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = layer_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for line, module in imports(path):
            there = layer_of(module)
            if here is None or there is None:
                continue
            if there not in rank or here not in rank:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: {module} is in no layer")
            elif rank[there] > rank[here]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: {here} imports {module} ({there} is above it)")
    return wrong


def test_every_module_belongs_to_a_layer():
    top = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert top - {"__init__", "__main__", "cli"} == set(LAYERS) - {"cli"}


def test_no_layer_imports_one_above_it():
    assert upward_imports() == []


def test_the_check_sees_imports_inside_functions(tmp_path):
    """The checker itself: a lazy import is found, with its line, like a top-level one."""
    src = tmp_path / "lion" / "core" / "x.py"
    src.parent.mkdir(parents=True)
    src.write_text("import os\n\ndef f():\n    from lion.loop.runner import run_loop\n    from . import y\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "lion"
    try:
        assert imports(src) == [(4, "lion.loop.runner"), (5, "lion.core")]
        assert upward_imports() == ["core/x.py:4: core imports lion.loop.runner (loop is above it)"]
    finally:
        PACKAGE = saved
