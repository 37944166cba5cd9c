"""`movieviews check` fails on an import cycle between modules, one broken only under TYPE_CHECKING included,
and names the modules of each cycle once."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.cycles import cycles


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(source, encoding="utf-8")


def test_a_cycle_through_three_modules_is_found_once_with_its_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _package(
        tmp_path,
        "planted_cycle",
        {
            "commands": "from planted_cycle import metrics\n",
            "metrics": "from planted_cycle import health\n",
            "health": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from planted_cycle import commands\n"
            ),
            "leaf": "from planted_cycle import commands\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cycles("planted_cycle") == [
        (
            "planted_cycle.commands",
            "planted_cycle.metrics",
            "planted_cycle.health",
            "planted_cycle.commands",
        )
    ]


def test_imports_that_point_one_way_have_no_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _package(
        tmp_path,
        "planted_acyclic",
        {
            "responses": "",
            "health": "from planted_acyclic import responses\n",
            "rest": "from planted_acyclic import health, responses\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cycles("planted_acyclic") == []
