from __future__ import annotations

import json

import pytest

from schemas.catalog import AVRO_DIR, Catalog
from schemas.errors import SchemaError, UnknownSchemaError
from schemas.subjects import REGISTERED, VIEWED
from schemas.wire import fingerprint

# Recorded at release. A change here means a released schema changed on the wire: every stored event would
# stop resolving. Never update these; add a version instead.
RELEASED_FINGERPRINTS = {
    (VIEWED, 1): "0d1c6c267aeeeccd",
    (VIEWED, 2): "9812e008c66cfc86",
    (REGISTERED, 1): "7ec6a629f0dc689d",
}


def test_fingerprints_of_released_versions_are_stable() -> None:
    catalog = Catalog.bundled()
    for (subject, version), expected in RELEASED_FINGERPRINTS.items():
        assert catalog.version(subject, version).fingerprint.hex() == expected


def test_fingerprint_matches_the_avro_reference_values() -> None:
    # From Avro's share/test/data/schema-tests.txt (Java longs, written little-endian on the wire).
    assert fingerprint("null") == (7195948357588979594).to_bytes(8, "little")
    assert fingerprint("boolean") == (-6970731678124411036).to_bytes(8, "little", signed=True)


def test_fingerprint_ignores_docs_and_formatting() -> None:
    schema = json.loads((AVRO_DIR / VIEWED / "v1.avsc").read_text())
    schema["doc"] = "reworded"
    assert fingerprint(schema) == fingerprint(json.loads((AVRO_DIR / VIEWED / "v1.avsc").read_text()))


def test_bundled_catalog_knows_every_subject_and_version() -> None:
    catalog = Catalog.bundled()
    assert catalog.subjects == (REGISTERED, VIEWED)
    assert sorted(catalog.versions(VIEWED)) == [1, 2]
    assert catalog.latest(VIEWED) is catalog.version(VIEWED, 2).parsed
    assert catalog.writer(catalog.version(VIEWED, 1).fingerprint) is catalog.version(VIEWED, 1).parsed


def test_add_returns_the_fingerprint_and_is_idempotent() -> None:
    catalog = Catalog.bundled()
    schema_json = catalog.version(VIEWED, 1).json
    assert catalog.add(schema_json) == catalog.add(schema_json) == catalog.version(VIEWED, 1).fingerprint


def test_a_schema_learnt_at_run_time_does_not_replace_the_reader() -> None:
    catalog = Catalog()
    catalog.add((AVRO_DIR / VIEWED / "v1.avsc").read_text(), version=1)
    catalog.add((AVRO_DIR / VIEWED / "v2.avsc").read_text())
    assert catalog.latest_entry(VIEWED).version == 1


def test_unknown_fingerprint_without_resolver() -> None:
    with pytest.raises(UnknownSchemaError):
        Catalog.bundled().writer(b"\x01" * 8)


def test_invalid_schemas_are_rejected() -> None:
    with pytest.raises(SchemaError):
        Catalog().add('{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}')
    with pytest.raises(SchemaError):
        Catalog().add('"string"')
    with pytest.raises(SchemaError):
        Catalog().add("not json")


def test_schema_must_be_filed_under_its_own_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "other.Name").mkdir()
    (tmp_path / "other.Name" / "v1.avsc").write_text((AVRO_DIR / VIEWED / "v1.avsc").read_text())
    with pytest.raises(SchemaError, match="filed under"):
        Catalog.from_dir(tmp_path)
