from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from deploy.cli import main
from deploy.settings import Settings
from schemas.catalog import AVRO_DIR
from schemas.compat import check_pair, check_subject, check_tree
from schemas.subjects import VIEWED

V1 = json.loads((AVRO_DIR / VIEWED / "v1.avsc").read_text())
V2 = json.loads((AVRO_DIR / VIEWED / "v2.avsc").read_text())


def evolve(
    base: dict[str, Any],
    *,
    add: list[dict[str, Any]] = (),
    retype: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> dict[str, Any]:  # type: ignore[assignment]
    schema = copy.deepcopy(base)
    schema["fields"] = [f for f in schema["fields"] if f["name"] not in drop]
    for field in schema["fields"]:
        if retype and field["name"] in retype:
            field["type"] = retype[field["name"]]
    schema["fields"] += add
    return schema


def test_the_bundled_schemas_pass_the_gate() -> None:
    assert check_tree(AVRO_DIR) == []


def test_v2_reads_v1() -> None:
    assert check_pair(V1, V2) == []


INCOMPATIBLE = {
    "field added without a default": evolve(V2, add=[{"name": "rating", "type": "int"}]),
    "type changed to one that does not promote": evolve(V2, retype={"movie_id": "long"}),
    "narrowed": evolve(V2, retype={"occurred_at": "int"}),
    "union branch not readable": evolve(V2, retype={"user_id": "string"}),
    "logical type changed": evolve(
        V2, retype={"occurred_at": {"type": "long", "logicalType": "timestamp-micros"}}
    ),
    "renamed": {**V2, "name": "Viewed"},
}
RULES = {
    "field added without a default": ("MovieViewed.rating", "field added without a default"),
    "type changed to one that does not promote": ("MovieViewed.movie_id", "does not promote"),
    "narrowed": ("MovieViewed.occurred_at", "does not promote"),
    "union branch not readable": ("MovieViewed.user_id", "union branch not readable"),
    "logical type changed": ("MovieViewed.occurred_at", "logical type changed"),
    "renamed": ("", "named type renamed without an alias"),
}


@pytest.mark.parametrize("case", sorted(INCOMPATIBLE))
def test_incompatible_versions_are_rejected_naming_subject_version_field_and_rule(case: str) -> None:
    found = check_subject(VIEWED, {1: V1, 2: V2, 3: INCOMPATIBLE[case]})
    assert found, case
    field, rule = RULES[case]
    message = str(found[0])
    assert message.startswith(f"{VIEWED} v3 cannot read v")
    assert field in message and rule in message


def test_transitive_an_old_version_still_counts() -> None:
    # v3 drops the default of `device`: it still reads v2 events (they carry the field), not v1 events.
    v3 = evolve(V2, drop=("device",), add=[{"name": "device", "type": ["null", "string"]}])
    found = check_subject(VIEWED, {1: V1, 2: V2, 3: v3})
    assert [(f.version, f.writer_version, f.rule) for f in found] == [(3, 1, "field added without a default")]


COMPATIBLE = {
    "optional field with default": evolve(
        V2, add=[{"name": "rating", "type": ["null", "int"], "default": None}]
    ),
    "field removed": evolve(V2, drop=("country",)),
    "int promoted to long": evolve(V2, retype={"watch_seconds": ["null", "long"]}),
    "union widened": evolve(V2, retype={"device": ["null", "string", "int"]}),
    "string to union": evolve(V2, retype={"movie_id": ["null", "string"]}),
    "renamed with alias": {**V2, "name": "Viewed", "aliases": ["movieviews.events.MovieViewed"]},
    "field renamed with alias": evolve(
        V2,
        drop=("country",),
        add=[{"name": "region", "type": ["null", "string"], "default": None, "aliases": ["country"]}],
    ),
}


@pytest.mark.parametrize("case", sorted(COMPATIBLE))
def test_compatible_versions_are_accepted(case: str) -> None:
    assert check_subject(VIEWED, {1: V1, 2: V2, 3: COMPATIBLE[case]}) == []


def test_enum_symbols_and_nested_types() -> None:
    def with_genre(symbols: list[str], **extra: Any) -> dict[str, Any]:
        enum = {"type": "enum", "name": "Genre", "symbols": symbols, **extra}
        return evolve(V1, add=[{"name": "genre", "type": ["null", enum], "default": None}])

    assert check_pair(with_genre(["A", "B"]), with_genre(["A", "B", "C"])) == []
    removed = check_pair(with_genre(["A", "B"]), with_genre(["A"]))
    assert removed and removed[0].rule == "enum symbol removed without an enum default"
    assert check_pair(with_genre(["A", "B"]), with_genre(["A", "OTHER"], default="OTHER")) == []


def test_arrays_and_maps_are_checked_inside() -> None:
    tags = evolve(V1, add=[{"name": "tags", "type": {"type": "array", "items": "int"}, "default": []}])
    assert check_pair(tags, evolve(tags, retype={"tags": {"type": "array", "items": "long"}})) == []
    narrowed = check_pair(tags, evolve(tags, retype={"tags": {"type": "array", "items": "string"}}))
    assert narrowed and narrowed[0].path == "MovieViewed.tags[]"


def run_cli(action: str, root: Path) -> int:
    return main(["schemas", action, "--dir", str(root)], Settings.from_env({}))


def copy_schemas(tmp_path: Path) -> Path:
    root = tmp_path / "avro"
    shutil.copytree(AVRO_DIR, root)
    return root


def test_cli_check_passes_on_the_bundled_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("check", AVRO_DIR) == 0
    assert capsys.readouterr().out.startswith("OK 3 schema versions")


def test_cli_check_fails_on_an_incompatible_new_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_schemas(tmp_path)
    (root / VIEWED / "v3.avsc").write_text(json.dumps(INCOMPATIBLE["field added without a default"]))
    assert run_cli("check", root) == 1
    out = capsys.readouterr().out
    assert f"FAIL {VIEWED} v3 cannot read v1: field MovieViewed.rating: field added without a default" in out


def test_cli_check_fails_when_a_released_version_is_edited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_schemas(tmp_path)
    (root / VIEWED / "v1.avsc").write_text(json.dumps(V1))  # same schema, reformatted: still an edit
    assert run_cli("check", root) == 1
    assert f"{VIEWED} v1: released, but its file was edited" in capsys.readouterr().out


def test_cli_check_fails_when_a_version_is_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_schemas(tmp_path)
    (root / VIEWED / "v1.avsc").unlink()
    assert run_cli("check", root) == 1
    out = capsys.readouterr().out
    assert f"{VIEWED} v1: missing" in out and "its file is gone" in out


def test_cli_list_shows_fingerprints(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("list", AVRO_DIR) == 0
    assert "0d1c6c267aeeeccd" in capsys.readouterr().out
