import pytest

from lion.core.config import RunConfig, load_config
from lion.core.errors import LionError


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", ["arena", "demo", "ablation", "openai", "local"])
def test_every_shipped_config_loads(name):
    from importlib import resources

    with resources.as_file(resources.files("lion").joinpath(f"configs/{name}.yaml")) as path:
        cfg = load_config(path)
    assert cfg.loop.iterations == 3
    if name in ("demo", "ablation"):  # the world of procedures
        assert (cfg.data.arena_facts, cfg.data.arena_procedures) == (False, True)
    if name == "demo":  # judged on what the student has not trained on
        assert cfg.loop.judged == "held_back"


def test_unknown_key_names_file_line_and_key(tmp_path):
    p = write(tmp_path, "loop:\n  iterations: 2\n  tua: 1.0\n")
    with pytest.raises(LionError) as e:
        load_config(p)
    assert str(e.value) == f"{p}, line 3, field 'loop.tua': unknown key."


def test_wrong_type_names_the_key(tmp_path):
    p = write(tmp_path, "student:\n  train:\n    epochs: lots\n")
    with pytest.raises(LionError, match=r"line 3, field 'student.train.epochs'"):
        load_config(p)


def test_invalid_yaml_names_the_line(tmp_path):
    p = write(tmp_path, "loop:\n  iterations: [1,\n")
    with pytest.raises(LionError, match=r"c.yaml, line \d"):
        load_config(p)


def test_set_overrides_any_field_and_checks_it():
    cfg = load_config(None, ["loop.tau=0.5", "student.train.learning_rate=1e-4", "data.seeds=x.json"])
    assert cfg.loop.tau == 0.5 and cfg.student.train.learning_rate == 1e-4 and cfg.data.seeds == "x.json"
    with pytest.raises(LionError, match=r"--set loop.nope: unknown key"):
        load_config(None, ["loop.nope=1"])
    with pytest.raises(LionError, match=r"--set loop.iterations"):
        load_config(None, ["loop.iterations=many"])


def test_hard_share_is_a_fraction():
    assert RunConfig().loop.hard_share == 0.5
    with pytest.raises(LionError, match="hard_share"):
        load_config(None, ["loop.hard_share=1.5"])


def test_a_partial_section_keeps_its_defaults(tmp_path):
    p = write(tmp_path, "referee:\n  arena: {noise: 1.5}\n")
    cfg = load_config(p, ["judge.arena.position_bias=2"])
    assert cfg.referee.model == "arena-referee" and cfg.referee.decoding.temperature == 0.2
    assert cfg.referee.arena.noise == 1.5 and cfg.judge.arena.position_bias == 2


def _models_in(annotation):
    """The pydantic models an annotation names, through Optional, list, dict and other wrappers."""
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def test_every_config_field_has_a_description():
    """The configuration reference is generated from these descriptions, so none may be missing."""
    missing, seen, todo = [], {RunConfig}, [("", RunConfig)]
    while todo:
        prefix, model = todo.pop()
        for name, field in model.model_fields.items():
            path = prefix + name
            if not (field.description or "").strip():
                missing.append(f"{path} ({model.__name__})")
            for sub in _models_in(field.annotation):
                if sub not in seen:
                    seen.add(sub)
                    todo.append((path + ".", sub))
    assert len(seen) > 10  # the walk reached the nested sections
    assert not missing, "fields without a description: " + ", ".join(sorted(missing))
