"""Which writer schema a fingerprint names, and which version of a subject this process reads with."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import SchemaParseException

from schemas.errors import DecodeError, SchemaError, UnknownSchemaError
from schemas.wire import avro_package_fingerprint, fingerprint

AVRO_DIR = Path(__file__).resolve().parent / "avro"
_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.avsc$")

# fingerprint -> schema JSON, or None when it does not know it either (the run-time shared catalog).
Resolver = Callable[[bytes], str | None]

# A burst of events with an unknown schema must not turn into a burst of resolver round trips.
RETRY_UNKNOWN_AFTER_S = 1.0


@dataclass(frozen=True)
class SchemaVersion:
    subject: str
    version: int | None  # None: learnt at run time, not bundled with this code
    fingerprint: bytes
    schema: dict[str, Any] = field(repr=False)
    parsed: dict[str, Any] = field(repr=False)
    # Same schema without logical types: reads epoch millis and uuid strings as plain long and string.
    parsed_raw: dict[str, Any] = field(repr=False)

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f["name"] for f in self.schema["fields"])

    @property
    def json(self) -> str:
        return json.dumps(self.schema, separators=(",", ":"))


def strip_logical_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical_types(item) for item in schema]
    return schema


def load_schema(schema_json: str | dict[str, Any]) -> SchemaVersion:
    try:
        schema: Any = json.loads(schema_json) if isinstance(schema_json, str) else schema_json
        parsed: Any = parse_schema(schema, {})
        parsed_raw: Any = parse_schema(strip_logical_types(schema), {})
    except (ValueError, TypeError, KeyError, SchemaParseException) as exc:
        raise SchemaError(f"not a valid Avro schema: {str(schema_json)[:200]!r}") from exc
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise SchemaError(f"an event schema must be a record, got {str(schema_json)[:200]!r}")
    return SchemaVersion(parsed["name"], None, fingerprint(schema), schema, parsed, parsed_raw)


def iter_schema_files(root: Path) -> Iterator[tuple[str, int, Path]]:
    """(subject, version, path) for every `<subject>/v<N>.avsc` under root, in subject and version order."""
    for subject_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        versions: list[tuple[int, Path]] = []
        for path in subject_dir.glob("*.avsc"):
            match = _VERSION_FILE.match(path.name)
            if match is None:
                raise SchemaError(f"{path}: schema files are named v<N>.avsc")
            versions.append((int(match.group(1)), path))
        for version, path in sorted(versions):
            yield subject_dir.name, version, path


class Catalog:
    def __init__(self, resolver: Resolver | None = None) -> None:
        self._resolver = resolver
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        self._versions: dict[str, dict[int, SchemaVersion]] = {}
        self._learnt: dict[str, SchemaVersion] = {}
        self._misses: dict[bytes, float] = {}
        # Owned by schemas.codec: decode plans per (writer fingerprint, logical), valid until the next add().
        self.decode_cache: dict[tuple[bytes, bool], Any] = {}

    @classmethod
    def bundled(cls, resolver: Resolver | None = None) -> Catalog:
        return cls.from_dir(AVRO_DIR, resolver)

    @classmethod
    def from_dir(cls, root: Path, resolver: Resolver | None = None) -> Catalog:
        catalog = cls(resolver)
        for subject, version, path in iter_schema_files(root):
            catalog.add(path.read_text(encoding="utf-8"), version=version, subject=subject)
        return catalog

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(sorted(self._versions.keys() | self._learnt.keys()))

    def headers(self, entry: SchemaVersion) -> list[bytes]:
        """Every fingerprint that names `entry` on the wire: its own and its aliases."""
        return [fp for fp, known in self._by_fingerprint.items() if known is entry]

    def versions(self, subject: str) -> dict[int, SchemaVersion]:
        return dict(self._versions.get(subject, {}))

    def add(
        self, schema_json: str | dict[str, Any], version: int | None = None, subject: str | None = None
    ) -> bytes:
        loaded = load_schema(schema_json)
        if subject is not None and loaded.subject != subject:
            raise SchemaError(f"schema named {loaded.subject!r} filed under subject {subject!r}")
        known = self._by_fingerprint.get(loaded.fingerprint)
        if known is not None and (version is None or known.version == version):
            return known.fingerprint
        entry = SchemaVersion(
            loaded.subject, version, loaded.fingerprint, loaded.schema, loaded.parsed, loaded.parsed_raw
        )
        self._by_fingerprint[entry.fingerprint] = entry
        # The Python avro package's fingerprint of the same schema names the same writer (schemas/README.md).
        self._by_fingerprint.setdefault(avro_package_fingerprint(entry.schema), entry)
        if version is None:
            self._learnt.setdefault(entry.subject, entry)
        else:
            self._versions.setdefault(entry.subject, {})[version] = entry
        self._misses.pop(entry.fingerprint, None)
        self.decode_cache.clear()
        return entry.fingerprint

    def entry(self, schema_fingerprint: bytes) -> SchemaVersion:
        """The writer schema a fingerprint names; asks the resolver (at most once a second) before failing."""
        entry = self._by_fingerprint.get(schema_fingerprint)
        if entry is not None:
            return entry
        if self._resolver is None or not self._may_ask(schema_fingerprint):
            raise UnknownSchemaError(schema_fingerprint)
        try:
            schema_json = self._resolver(schema_fingerprint)
        except SchemaError as exc:
            # The shared catalog is unreachable: the event is parked as unknown-schema, not lost, not fatal.
            self._misses[schema_fingerprint] = time.monotonic()
            raise UnknownSchemaError(schema_fingerprint) from exc
        if schema_json is None:
            self._misses[schema_fingerprint] = time.monotonic()
            raise UnknownSchemaError(schema_fingerprint)
        learnt = self.add(schema_json)
        if learnt != schema_fingerprint:
            raise DecodeError(f"resolver answered {schema_fingerprint.hex()} with schema {learnt.hex()}")
        return self._by_fingerprint[learnt]

    def writer(self, schema_fingerprint: bytes) -> dict[str, Any]:
        return self.entry(schema_fingerprint).parsed

    def latest_entry(self, subject: str) -> SchemaVersion:
        """The reader schema of a subject: its highest bundled version, else the first learnt at run time."""
        versions = self._versions.get(subject)
        if versions:
            return versions[max(versions)]
        if subject in self._learnt:
            return self._learnt[subject]
        raise SchemaError(f"unknown subject {subject!r}")

    def latest(self, subject: str) -> dict[str, Any]:
        return self.latest_entry(subject).parsed

    def version(self, subject: str, version: int | None = None) -> SchemaVersion:
        if version is None:
            return self.latest_entry(subject)
        try:
            return self._versions[subject][version]
        except KeyError:
            raise SchemaError(f"unknown schema {subject} v{version}") from None

    def _may_ask(self, schema_fingerprint: bytes) -> bool:
        missed_at = self._misses.get(schema_fingerprint)
        return missed_at is None or time.monotonic() - missed_at >= RETRY_UNKNOWN_AFTER_S
