"""Matplotlib without a display, and figures saved atomically as PNG."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI; must precede pyplot
import matplotlib.pyplot as plt

from lion.core import atomic

__all__ = ["plt", "save"]


def save(fig: plt.Figure, path: Path, dpi: int = 120) -> None:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic.write_bytes(path, buffer.getvalue())
