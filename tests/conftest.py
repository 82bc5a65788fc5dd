"""Tests run offline, quietly and on one torch thread (two threads on two busy cores crawl)."""

import os

os.environ.setdefault("LION_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

torch.set_num_threads(1)
