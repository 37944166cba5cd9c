"""Events single-object encoded by the Python `avro` package (1.12), whose fingerprint of a schema with
logical types differs from the specification's: read as the same writer schema, by the codec and
the JVM view reader.

That package installs a module named `avro`, as `avro-python3` (a PyFlink dependency, whose `avro.io` PyFlink
imports) does: in the venv it would break the job. `deploy/movieviews` installs it into a folder of its own
(pinned in tests/interop-requirements.txt), and it runs in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.events import registration_record, view_record

from schemas.catalog import AVRO_DIR, Catalog
from schemas.wire import avro_package_fingerprint, fingerprint
from stream.taskmanager.batch import decode_batch
from stream.taskmanager.decoding import decode_event
from stream.taskmanager.state import Registered, Views
from stream.viewreader import view_layouts

# Where deploy/movieviews installs tests/interop-requirements.txt: next to the venv's site-packages.
INTEROP = Path(sys.executable).parent.parent / "interop"
OCCURRED_MS = 1_700_000_000_123
SCHEMA_FILES = sorted(AVRO_DIR.glob("*/v*.avsc"))

# Reads [schema path, [record, ...]] as JSON on stdin; prints [fingerprint hex, [single-object hex, ...]].
# `occurred_at` comes as epoch millis; the package wants a datetime for timestamp-millis.
ENCODER = """
import io, json, sys
from datetime import UTC, datetime
import avro.io, avro.schema
path, records = json.load(sys.stdin)
schema = avro.schema.parse(open(path).read())
fp = schema.fingerprint("CRC-64-AVRO")
out = []
for record in records:
    record["occurred_at"] = datetime.fromtimestamp(record["occurred_at"] / 1000, UTC)
    body = io.BytesIO()
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(body))
    out.append((b"\\xc3\\x01" + fp + body.getvalue()).hex())
print(json.dumps([fp.hex(), out]))
"""


@pytest.fixture(scope="session")
def avro_package() -> Path:
    if not (INTEROP / "avro").is_dir():
        pytest.fail(f"no avro package in {INTEROP}: `deploy/movieviews test` installs it there")
    return INTEROP


def encode_with_avro_package(
    package: Path, path: Path, records: list[dict[str, object]]
) -> tuple[bytes, list[bytes]]:
    """What a producer using only the `avro` package writes: C3 01, its own fingerprint, the body."""
    result = subprocess.run(
        [sys.executable, "-c", ENCODER],
        input=json.dumps([str(path), records]),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(package), "PATH": "/usr/bin:/bin"},
    )
    fp, encoded = json.loads(result.stdout)
    return bytes.fromhex(fp), [bytes.fromhex(e) for e in encoded]


def viewed(movie_id: str, version: int) -> dict[str, object]:
    record = view_record(movie_id, OCCURRED_MS)
    if version == 2:
        record |= {"device": "tv", "country": None, "watch_seconds": 42}
    return record


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_alias_is_the_fingerprint_the_avro_package_computes(avro_package: Path, path: Path) -> None:
    package_fp, _ = encode_with_avro_package(avro_package, path, [])
    assert avro_package_fingerprint(json.loads(path.read_text())) == package_fp


def test_movie_viewed_v1_has_two_fingerprints_that_name_one_writer() -> None:
    schema = json.loads((AVRO_DIR / "movieviews.events.MovieViewed" / "v1.avsc").read_text())
    assert fingerprint(schema).hex() == "0d1c6c267aeeeccd"  # Java's BinaryMessageEncoder, fastavro
    assert avro_package_fingerprint(schema).hex() == "cf6713daa5349909"


@pytest.mark.parametrize("version", [1, 2])
def test_views_encoded_by_the_avro_package_are_counted(avro_package: Path, version: int) -> None:
    catalog = Catalog.bundled()
    path = AVRO_DIR / "movieviews.events.MovieViewed" / f"v{version}.avsc"
    records = [viewed("m-1", version), viewed("m-1", version), viewed("m-2", version)]
    _, payloads = encode_with_avro_package(avro_package, path, records)
    assert payloads[0][:10].hex() in view_layouts(catalog)  # the JVM reader's hot path knows this header
    out = list(decode_batch(catalog, ("movie-views", 0), [0, 1, 2], payloads))
    assert {v.movie_id: v.count for v in out if isinstance(v, Views)} == {"m-1": 2, "m-2": 1}
    watched = 42 if version == 2 else 0
    assert decode_event(catalog, payloads[2]) == Views("m-2", 1, watched, OCCURRED_MS, OCCURRED_MS)


def test_a_registration_encoded_by_the_avro_package_is_read(avro_package: Path) -> None:
    record = registration_record("m-1", "Heat", 1995, "crime", OCCURRED_MS)
    path = AVRO_DIR / "movieviews.events.MovieRegistered" / "v1.avsc"
    _, [data] = encode_with_avro_package(avro_package, path, [record])
    assert decode_event(Catalog.bundled(), data) == Registered("m-1", "Heat", 1995, "crime", OCCURRED_MS)
