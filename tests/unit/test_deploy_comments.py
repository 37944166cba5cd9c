"""`movieviews check` fails on a comment or docstring that carries history: a date, an issue number, a commit
hash or session words; the mechanism and the reason pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.comments import findings, sources


@pytest.mark.parametrize(
    "comment",
    [
        "# failed on 30 Nov 2026 after 684 s",
        "# measured on 1 Dec (load 3.4)",
        "# November 30: the sink on its own thread",
        "# #17's targets",
        "# reads after bcffa61",
        "# with this wave's defaults",
        "# changed in this session",
    ],
)
def test_a_comment_with_history_is_found_with_its_file_and_line(tmp_path: Path, comment: str) -> None:
    module = tmp_path / "m.py"
    module.write_text(f"X = 1\n{comment}\nY = 2\n", encoding="utf-8")
    assert [(f.path, f.line, f.text) for f in findings([module])] == [(module, 2, comment)]


def test_a_docstring_with_a_date_is_found_on_its_own_line(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        'def f() -> None:\n    """Why.\n\n    Measured 29 November 2026."""\n', encoding="utf-8"
    )
    assert [(f.line, f.text.strip()) for f in findings([module])] == [(4, "Measured 29 November 2026.")]


def test_a_java_comment_with_a_date_is_found(tmp_path: Path) -> None:
    source = tmp_path / "Sink.java"
    source.write_text(
        '/**\n * A batch per statement (1 Dec).\n */\nclass Sink { String s = "2026"; }\n', "utf-8"
    )
    assert [(f.line, f.text) for f in findings([source])] == [(2, " * A batch per statement (1 Dec).")]


def test_mechanism_reasons_figures_and_code_pass(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "# At most 2 decimals; 16 MB memtables, 200 ms coalescing, 1,000 movies (docs/PERFORMANCE.md).\n"
        'YEAR = "2026"  # a string literal is code, not a comment\n'
        'ENTITY = "&#39;"\n'
        "SQLSTATE = '23505'\n",
        encoding="utf-8",
    )
    assert list(findings([module])) == []


def test_the_project_s_code_comments_carry_no_history() -> None:
    assert [str(f) for f in findings(sources())] == []
