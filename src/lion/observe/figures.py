"""The figures that the README (the site's home page) quotes from `lion demo`, made from its run folder.

Figures copied by hand went stale each time the loop changed, and a newcomer's own demo then
disagreed with the page. One function writes them from a run folder, between two marker lines,
and `tests/test_docs.py` compares them with a fresh demo run:

    python -m lion.observe.figures runs/demo-seed42 README.md
"""

from __future__ import annotations

import sys
from pathlib import Path

from lion.core import atomic
from lion.core.errors import LionError
from lion.loop.describe import RUN_END, before_record, cells, headers
from lion.observe.report import judged_iterations, kinds_table
from lion.observe.status import collect

START = "<!-- demo figures: made by `python -m lion.observe.figures RUN PAGE...`; edit the code, not this block -->"
END = "<!-- end of demo figures -->"


def block(root: Path) -> str:
    """The held-out table exactly as `lion demo` prints it at the end, and where the hard budget went."""
    st = collect(root)
    rows = ([before_record(st.before)] if st.before else []) + st.iterations
    lines = ["| " + " | ".join(headers(RUN_END)) + " |", "|" + "---|" * len(RUN_END),
             *("| " + " | ".join(cells(r, RUN_END)) + " |" for r in rows), ""]
    lines += ["Hard / judged per kind, and → how many of the kept new instructions were written from the kind's "
              "hard parents:", "", *kinds_table(judged_iterations(root))]
    return "\n".join([START, "", *lines, END])


def replace(text: str, new_block: str, where: str) -> str:
    """The page with its block of figures replaced; a page without the markers is refused."""
    if text.count(START) != 1 or text.count(END) != 1:
        raise LionError(f"{where}: no block of demo figures (the two marker lines) to replace.")
    head, rest = text.split(START)
    return head + new_block + rest.split(END, 1)[1]


def main(argv: list[str]) -> None:
    root, *pages = (Path(a) for a in argv)
    new_block = block(root)
    for page in pages:
        atomic.write_text(page, replace(page.read_text(encoding="utf-8"), new_block, str(page)))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except LionError as e:
        sys.exit(f"error: {e}")
