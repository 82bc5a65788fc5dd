"""The configs and config snippets we ship must load as written."""

import re
from pathlib import Path

import pytest
import yaml

from lion.core.config import load_config

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "endpoints.md").read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(config):
    load_config(config)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_endpoint_block_is_a_valid_role(block, tmp_path):
    role = yaml.safe_load(block)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"teacher": role}), encoding="utf-8")
    assert load_config(path).teacher.model == role["model"]


def test_the_endpoint_page_covers_every_server():
    backends = [yaml.safe_load(b)["backend"] for b in BLOCKS]
    assert len(BLOCKS) >= 8 and {"openai", "azure", "hf_local"} <= set(backends)
