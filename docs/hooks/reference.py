"""mkdocs hook: the site's home page is the README, and its two references are made from the code.

Hand-kept references drift from the code they describe; these two pages are written from the
pydantic models' field descriptions and from the typer app's own help at every build, so a field
or a flag cannot be added, renamed or removed without the site following. The README is the
front door on a repository page and on the site alike, kept in one place.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal

import typer
import typer.cli
from mkdocs.structure.files import File, Files
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PAGE = "reference/config.md"
CLI_PAGE = "reference/cli.md"


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, "index.md", content=home_page()))
    files.append(File.generated(config, CONFIG_PAGE, content=config_reference()))
    files.append(File.generated(config, CLI_PAGE, content=cli_reference()))
    return files


def home_page() -> str:
    """The README, its links into docs/ made relative to the site's root."""
    return (ROOT / "README.md").read_text(encoding="utf-8").replace("](docs/", "](")


def config_reference() -> str:
    from lion.core.config import RoleConfig, RunConfig

    lines = [
        "# Configuration reference",
        "",
        "Every field a run's YAML config accepts, made from the code's own descriptions at each build of "
        "this site. Set any of them on the command line with `--set dotted.key=value`; an unknown key or a "
        "wrong type is refused with the file, line and key. [Configuration](../configuration.md) explains "
        "how the sections fit together.",
        "",
    ]
    fields = RunConfig.model_fields
    roles = [name for name, f in fields.items() if _model_of(f.annotation) is RoleConfig]
    lines += _roles(roles)
    for name, field in fields.items():
        model = _model_of(field.annotation)
        if name in roles:
            continue
        lines += [f"## `{name}`", ""]
        if model is None:
            lines += _table([(name, field)], "")
        else:
            lines += _sections(model, name)
    return "\n".join(lines) + "\n"


def _roles(names: list[str]) -> list[str]:
    """The four LLM roles share one set of fields, shown once under `ROLE`; what differs between them
    by default (the model and its decoding) is in a table of its own."""
    from lion.core.config import RoleConfig, RunConfig

    rows = ["| role | what it does | default model | default decoding |", "|---|---|---|---|"]
    for name in names:
        field = RunConfig.model_fields[name]
        role = field.default
        decoding = ", ".join(f"{k} {v}" for k, v in role.decoding.model_dump().items())
        rows.append(f"| `{name}` | {_cell(field.description or '')} | `{role.model}` | {decoding} |")
    return [f"## The roles: {', '.join(f'`{n}`' for n in names)}", "",
            "Each LLM role is configured on its own, with the fields below; write `teacher.backend`, "
            "`referee.decoding.max_tokens` and so on where they show `ROLE`. "
            "[Endpoints](../endpoints.md) has a ready block for each provider.", "", *rows, "",
            *_sections(RoleConfig, "ROLE")]


def _sections(model: type[BaseModel], prefix: str) -> list[str]:
    """One table for the model's own fields, then one section per nested model, so a reader
    finds `student.train.lora.r` under `student.train.lora`."""
    doc = (model.__doc__ or "").strip()
    out = [doc.split("\n\n")[0].replace("\n", " "), ""] if doc and doc != BaseModel.__doc__ else []
    own = [(name, f) for name, f in model.model_fields.items() if _model_of(f.annotation) is None]
    if own:
        out += _table(own, prefix)
    for name, f in model.model_fields.items():
        nested = _model_of(f.annotation)
        if nested is not None:
            out += [f"### `{prefix}.{name}`", ""]
            if f.description:
                out += [_cell(f.description[:1].upper() + f.description[1:]) + ".", ""]
            out += _sections(nested, f"{prefix}.{name}")
    return out


def _table(fields: list[tuple[str, FieldInfo]], prefix: str) -> list[str]:
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, f in fields:
        key = f"{prefix}.{name}" if prefix else name
        rows.append(f"| `{key}` | {_type(f.annotation)} | {_default(f)} | {_cell(f.description or '')} |")
    return [*rows, ""]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, itself or inside `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(models) == 1:
        return models[0]
    return None


def _type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in args)
    if origin in (list, tuple, set):
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    names = {str: "text", int: "integer", float: "number", bool: "true/false"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(f: FieldInfo) -> str:
    if f.default_factory is not None:
        value = f.default_factory()
    elif f.default is PydanticUndefined:
        return "required"
    else:
        value = f.default
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != [] else "`[]`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def cli_reference() -> str:
    from lion.cli import app

    command = typer.main.get_command(app)
    with typer.Context(command) as ctx:
        body = typer.cli.get_docs_for_click(obj=command, ctx=ctx, name="lion", title="CLI reference")
    intro = ("Every `lion` command with its arguments and options, made from the command's own help at each "
             "build of this site. `lion COMMAND -h` prints the same in a terminal.\n\n")
    head, _, rest = body.partition("\n\n")
    return f"{head}\n\n{intro}{rest}"
