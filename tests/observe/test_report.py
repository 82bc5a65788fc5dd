import base64
from pathlib import Path

from lion.core import atomic
from lion.core.records import Instruction
from lion.observe.report import roots, text_cell, to_html, write_report
from run_cli import lion

PLOTS = {"split", "d_histogram", "hard_by_kind", "novelty", "heldout", "spend", "bias", "lineage"}


def test_every_plot_is_drawn_and_inlined_in_the_html(small_run, tmp_path):
    out = tmp_path / "report"
    shown = lion("report", str(small_run), "--out", str(out), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"wrote {out / 'report.html'}" in shown.stdout
    page = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    plots = sorted((out / "plots").glob("*.png"))
    assert {p.stem for p in plots} == PLOTS
    for p in plots:
        data = p.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5_000, p
        assert f"](plots/{p.name})" in markdown
        assert "data:image/png;base64," + base64.b64encode(data).decode() in page  # self-contained
    assert "src=\"plots/" not in page
    for section in ("Is the student catching up?", "Held-out scores", "The novelty filter", "Lineage",
                    "position bias", "Spend per role and step", "The hardest instructions"):
        assert section in markdown and section in page
    assert not list(out.rglob(f"*{atomic.TMP_SUFFIX}"))


def test_the_hardest_instructions_are_the_hard_ones_with_both_answers(small_run):
    page = write_report(small_run, hardest=3)
    markdown = page.with_suffix(".md").read_text()
    table = markdown.split("## The hardest instructions")[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert 1 <= len(rows) <= 3
    gaps = [float(r.split(" | ")[1]) for r in rows]
    assert gaps == sorted(gaps, reverse=True) and min(gaps) >= 1.0  # tau of the arena config
    assert all(r.count("**") == 4 for r in rows)  # a score in bold before each answer


def test_llm_text_cannot_inject_markup():
    hostile = "<script>alert(1)</script> **bold** [link](http://x) | pipe &amp; ![img](x.png)\nsecond line"
    page = to_html("| a |\n|---|\n| " + text_cell(hostile) + " |\n", Path("."), "t")
    assert "<script>" not in page and "<img" not in page and "<a " not in page and "<strong>" not in page
    assert "&lt;script&gt;" in page and "&amp;amp;" in page and "second line" in page
    assert page.count("<td>") == 1  # the pipe stayed inside its cell
    assert text_cell("x" * 50, limit=10).endswith("…")


def test_every_instruction_descends_from_a_seed():
    seed = Instruction.make("Name the capital of France.", category="capital")
    child = Instruction.make("Name the capital of Peru.", origin="from-hard", parent=seed.id, iteration=1)
    grandchild = Instruction.make("Give the capital city of Chile.", origin="from-easy", parent=child.id, iteration=2)
    found = roots([grandchild, seed, child])
    assert {k: v.id for k, v in found.items()} == {seed.id: seed.id, child.id: seed.id, grandchild.id: seed.id}


def test_the_hard_share_per_kind_counts_each_judged_instruction_of_its_kind(small_run):
    import json

    markdown = write_report(small_run).with_suffix(".md").read_text()
    family = {json.loads(line)["id"]: json.loads(line)["category"]
              for line in (small_run / "pools" / "00" / "cache.jsonl").read_text().splitlines()}
    split = [json.loads(line) for line in (small_run / "iter-01" / "discrimination" / "split.jsonl").read_text().splitlines()]
    section = markdown.split("### Hard share per kind")[1].split("\n#")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in section.splitlines() if line.startswith("| ")}
    new = [json.loads(line) for line in (small_run / "iter-01" / "generation" / "new_instructions.jsonl").read_text().splitlines()]
    counted = 0
    for kind in {family[r["id"]] for r in split}:
        if text_cell(kind) in rows:  # as the report escapes it
            hard = sum(r["hard"] for r in split if family[r["id"]] == kind)
            judged = sum(family[r["id"]] == kind for r in split)
            from_hard = sum(n["category"] == kind and n["origin"] == "from-hard" for n in new)
            assert f"| {hard}/{judged} → {from_hard} |" in rows[text_cell(kind)] + " |", kind
            counted += 1
    assert counted == min(8, len({family[r["id"]] for r in split}))


def test_a_student_loss_run_draws_its_ifd_and_shows_the_student_losses_of_its_hardest(judged_run, tmp_path):
    root = judged_run(2, 58, "loop.signal=student_loss", "loop.judged=held_back", "loop.loss_hard_share=0.03")
    assert not (root / "iter-01" / "discrimination" / "student_answers.jsonl").exists()  # no student answer to show
    out = tmp_path / "report"
    markdown = write_report(root, out, hardest=2).with_suffix(".md").read_text()
    assert {p.stem for p in (out / "plots").glob("*.png")} == {"split", "ifd_histogram", "hard_by_kind"}
    assert "### Hard share and mean IFD" in markdown and "### The IFD, per iteration" in markdown
    assert "top 3% by IFD" in markdown and "(loop.loss_hard_share) are hard" in markdown and "τ" not in markdown
    assert "no referee, generator" in markdown  # the header names no referee that was never asked
    # the iteration table's mean IFD, and the sentence on a split with 2 hard of 60 under it
    table = markdown.split("## Is the student catching up?")[1].split("###")[0]
    assert "| mean d | mean IFD |" in table and "| 0.35 |" in table
    assert "**Warning:** iteration 1's split is 2 hard of 60 judged" in table
    assert "set loop.loss\\_hard\\_share nearer 0.5" in table  # escaped like any text cell
    hardest = markdown.split("## The hardest instructions")[1]
    assert "| # | IFD | loss | loss alone | instruction | teacher |" in hardest  # no student column
    rows = [line for line in hardest.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert [r.split(" | ")[1:4] for r in rows] == [["0.500", "1.000", "2.000"], ["0.495", "0.990", "2.000"]]
    assert "The teacher on 0." in rows[0] and "Describe the number 0 in words." in rows[0]


def test_a_referee_run_with_a_split_that_says_something_has_no_warning(judged_run, tmp_path):
    markdown = write_report(judged_run(20, 40), tmp_path / "report", hardest=1).with_suffix(".md").read_text()
    assert "**Warning:**" not in markdown and "d ≥ τ = 1" in markdown
    assert {p.stem for p in (tmp_path / "report" / "plots").glob("*.png")} == {"split", "d_histogram", "hard_by_kind"}
    rows = [line for line in markdown.split("## The hardest instructions")[1].splitlines()
            if line.startswith("| ") and not line.startswith("| #")]
    assert len(rows) == 1 and rows[0].startswith("| 1 | +4.0 |") and "The student on" in rows[0]
