"""The evolution gate: every version of a subject must read data written by every earlier version.

That is Avro schema resolution with the new version as reader (BACKWARD_TRANSITIVE): consumers upgrade first
and still read the whole retained topic. Stricter than Avro in one place: a changed logical type
(timestamp-millis to -micros, say) reads without error but means something else, so it is rejected too.

Why not Apache `avro`'s `avro.compatibility.ReaderWriterCompatibilityChecker` (the reference rules): its
verdicts agree with this gate on 12 of the 13 examples in
tests/unit/test_schemas_compat.py (it accepts the changed logical type), but it cannot live in the project's
environment. apache-flink 1.20.5 requires `avro-python3` (1.10.2, which has no `avro.compatibility`) and
both distributions install the same `avro` package: with `avro` 1.12.2 installed, the stream job failed in
the TaskManager with "ImportError: cannot import name 'AvroTypeException' from 'avro.io'"
(pyflink/fn_execution/formats/avro.py), restarted ten times and ended FAILED. The checker would also not
name the field on its own: with a union writer (`user_id` ["null", "string"] -> "string") its location is
"/", and a reader union hides why no branch fits, so a walk like the one below would remain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.catalog import iter_schema_files, load_schema
from schemas.errors import SchemaError

RELEASED_FILE = "released.json"
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
# writer type -> reader types it resolves to (Avro 1.11 spec, "Schema Resolution").
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


@dataclass(frozen=True)
class Incompatibility:
    subject: str
    version: int  # the reader: the newer version
    writer_version: int
    path: str  # field path inside the record, e.g. `MovieViewed.watch_seconds`
    rule: str
    detail: str

    def __str__(self) -> str:
        return (
            f"{self.subject} v{self.version} cannot read v{self.writer_version}: "
            f"field {self.path}: {self.rule} ({self.detail})"
        )


@dataclass(frozen=True)
class _Problem:
    path: str
    rule: str
    detail: str


def check_subject(subject: str, versions: Mapping[int, dict[str, Any]]) -> list[Incompatibility]:
    """Every version against every earlier one (BACKWARD_TRANSITIVE)."""
    found = []
    ordered = sorted(versions)
    for i, reader_version in enumerate(ordered):
        for writer_version in ordered[:i]:
            for problem in check_pair(versions[writer_version], versions[reader_version]):
                found.append(
                    Incompatibility(
                        subject, reader_version, writer_version, problem.path, problem.rule, problem.detail
                    )
                )
    return found


def check_tree(root: Path) -> list[str]:
    """The whole gate over a schema folder: versions numbered 1..N, each a valid schema named after its
    subject, released versions unchanged (`released.json`), every version BACKWARD_TRANSITIVE compatible."""
    problems: list[str] = []
    subjects: dict[str, dict[int, dict[str, Any]]] = {}
    for subject, version, path in iter_schema_files(root):
        try:
            loaded = load_schema(path.read_text(encoding="utf-8"))
        except SchemaError as exc:
            problems.append(f"{subject} v{version}: {exc}")
            continue
        if loaded.subject != subject:
            problems.append(f"{subject} v{version}: the schema is named {loaded.subject!r}")
        subjects.setdefault(subject, {})[version] = loaded.schema
    for subject, versions in subjects.items():
        gaps = sorted(set(range(1, max(versions) + 1)) - versions.keys())
        problems += [f"{subject} v{gap}: missing (versions are kept forever)" for gap in gaps]
        problems += [str(found) for found in check_subject(subject, versions)]
    return problems + check_released(root)


def check_released(root: Path) -> list[str]:
    """A released version is never edited: its file must still hash to what was recorded at release."""
    released_file = root / RELEASED_FILE
    if not released_file.exists():
        return []
    problems = []
    for subject, versions in json.loads(released_file.read_text(encoding="utf-8")).items():
        for version, recorded in versions.items():
            path = root / subject / f"v{version}.avsc"
            if not path.exists():
                problems.append(f"{subject} v{version}: released, but its file is gone")
            elif file_digest(path) != recorded["sha256"]:
                problems.append(f"{subject} v{version}: released, but its file was edited")
    return problems


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_pair(writer: Any, reader: Any) -> list[_Problem]:
    return _Checker().check(
        writer, reader, reader["name"] if isinstance(reader, dict) and "name" in reader else "<root>"
    )


class _Checker:
    def __init__(self) -> None:
        self.writer_names: dict[str, Any] = {}
        self.reader_names: dict[str, Any] = {}
        # Named pairs being checked right now: a recursive type meeting itself is assumed compatible.
        self.in_progress: set[tuple[str, str]] = set()

    def check(self, writer: Any, reader: Any, path: str) -> list[_Problem]:
        writer = self._resolve(writer, self.writer_names)
        reader = self._resolve(reader, self.reader_names)
        if isinstance(reader, list) or isinstance(writer, list):
            return self._union(writer, reader, path)
        w_type, r_type = _type_of(writer), _type_of(reader)
        if w_type != r_type:
            if w_type in PROMOTIONS and r_type in PROMOTIONS[w_type]:
                return []
            return [_Problem(path, "type changed to one that does not promote", f"{w_type} -> {r_type}")]
        w_logical, r_logical = _logical(writer), _logical(reader)
        if w_logical != r_logical:
            return [_Problem(path, "logical type changed", f"{w_logical} -> {r_logical}")]
        if w_type in PRIMITIVES:
            return []
        if w_type == "array":
            return self.check(writer["items"], reader["items"], f"{path}[]")
        if w_type == "map":
            return self.check(writer["values"], reader["values"], f"{path}{{}}")
        if not _names_match(writer, reader):
            return [
                _Problem(
                    path, "named type renamed without an alias", f"{_name_of(writer)} -> {_name_of(reader)}"
                )
            ]
        key = (_name_of(writer) or "", _name_of(reader) or "")
        if key in self.in_progress:
            return []
        self.in_progress.add(key)
        try:
            return self._named(writer, reader, path)
        finally:
            self.in_progress.discard(key)

    def _named(self, writer: dict[str, Any], reader: dict[str, Any], path: str) -> list[_Problem]:
        if writer["type"] == "fixed" and writer["size"] != reader["size"]:
            return [_Problem(path, "fixed size changed", f"{writer['size']} -> {reader['size']}")]
        if writer["type"] == "enum":
            return self._enum(writer, reader, path)
        return self._record(writer, reader, path)

    def _resolve(self, schema: Any, names: dict[str, Any]) -> Any:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return names.get(schema, schema)
        if isinstance(schema, dict) and schema.get("type") in {"record", "enum", "fixed"}:
            names[_name_of(schema) or ""] = schema
            names[schema["name"]] = schema
        return schema

    def _union(self, writer: Any, reader: Any, path: str) -> list[_Problem]:
        branches = writer if isinstance(writer, list) else [writer]
        problems = []
        candidates = reader if isinstance(reader, list) else [reader]
        for branch in branches:
            # Each writer branch must be readable: by the reader itself or by one of the reader's branches.
            if any(not self.check(branch, candidate, path) for candidate in candidates):
                continue
            same_kind = [
                c
                for c in candidates
                if _same_kind(self._resolve(branch, self.writer_names), self._resolve(c, self.reader_names))
            ]
            if same_kind:  # the branch's own counterpart says best what broke
                problems += self.check(branch, same_kind[0], path)
            else:
                problems.append(
                    _Problem(path, "union branch not readable", f"{_describe(branch)} -> {_describe(reader)}")
                )
        return problems

    def _enum(self, writer: dict[str, Any], reader: dict[str, Any], path: str) -> list[_Problem]:
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing and "default" not in reader:
            return [_Problem(path, "enum symbol removed without an enum default", ", ".join(missing))]
        return []

    def _record(self, writer: dict[str, Any], reader: dict[str, Any], path: str) -> list[_Problem]:
        writer_fields = {f["name"]: f for f in writer["fields"]}
        problems = []
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", [])]
            source = next((writer_fields[n] for n in names if n in writer_fields), None)
            field_path = f"{path}.{field['name']}"
            if source is not None:
                problems += self.check(source["type"], field["type"], field_path)
            elif "default" not in field:
                problems.append(
                    _Problem(field_path, "field added without a default", _describe(field["type"]))
                )
        return problems


def _same_kind(writer: Any, reader: Any) -> bool:
    if isinstance(writer, list) or isinstance(reader, list) or _type_of(writer) != _type_of(reader):
        return False
    return _type_of(writer) not in {"record", "enum", "fixed"} or _names_match(writer, reader)


def _type_of(schema: Any) -> str:
    if isinstance(schema, dict):
        return (
            str(schema["type"]) if not isinstance(schema["type"], dict | list) else _type_of(schema["type"])
        )
    return str(schema)


def _logical(schema: Any) -> str | None:
    return schema.get("logicalType") if isinstance(schema, dict) else None


def _name_of(schema: Any) -> str | None:
    if not isinstance(schema, dict) or "name" not in schema:
        return None
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else name


def _names_match(writer: dict[str, Any], reader: dict[str, Any]) -> bool:
    w_name, r_name = _name_of(writer), _name_of(reader)
    aliases = set(reader.get("aliases", []))
    return w_name == r_name or writer["name"] == reader["name"] or bool({w_name, writer["name"]} & aliases)


def _describe(schema: Any) -> str:
    if isinstance(schema, list):
        return "[" + ", ".join(_describe(b) for b in schema) + "]"
    return _name_of(schema) or _type_of(schema)
