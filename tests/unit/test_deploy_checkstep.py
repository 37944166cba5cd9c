"""Every step of `deploy/movieviews check` reports alike (deploy.checkstep.report)."""

from __future__ import annotations

import pytest

from deploy.checkstep import report
from deploy.errors import MissingToolError


def test_each_problem_is_a_line_of_stderr_and_the_step_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert report(lambda: ["a.yaml: bad port", "b.yaml: no name"], "all valid") == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", "a.yaml: bad port\nb.yaml: no name\n")


def test_no_problem_prints_what_passed_and_the_step_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert report(lambda: iter(()), "all valid") == 0
    assert capsys.readouterr() == ("all valid\n", "")


def test_a_step_that_cannot_run_fails_with_its_error_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def find() -> list[str]:
        raise MissingToolError("promtool is missing: apt-get install prometheus")

    assert report(find, "all valid") == 1
    assert capsys.readouterr() == ("", "movieviews check: promtool is missing: apt-get install prometheus\n")
