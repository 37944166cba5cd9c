"""The deduplication's key (stream/jvm EventKey, `stream.topology.EVENT_KEY`): an event's `event_id`, whatever
the writer version, and a record that does not start like an event keyed by its own position, so it is never
taken for a duplicate. Checked against the definition below on real events of every writer, on their bytes
changed, cut short and random, by one JVM for the whole corpus."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pyflink
import pytest
from support.events import registration_record, view_record

from deploy.jars import build_stream_jar
from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import REGISTERED, VIEWED

CATALOG = Catalog.bundled()
Record = tuple[bytes | None, str, int, int]


def defined_key(payload: bytes | None, topic: str, partition: int, offset: int) -> str:
    """Marker C3 01, eight fingerprint bytes, the length byte of a 36-character string (0x48), then the id:
    bytes 11-46 as ISO-8859-1 characters. Anything else: topic/partition/offset."""
    if payload is not None and len(payload) >= 47 and payload[:2] == b"\xc3\x01" and payload[10] == 0x48:
        return payload[11:47].decode("latin-1")
    return f"{topic}/{partition}/{offset}"


@pytest.fixture(scope="module")
def jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = tmp_path_factory.mktemp("jvm") / "movieviews-stream.jar"
    build_stream_jar(built)
    return built


def keys(jar: Path, records: list[Record]) -> list[str]:
    flink = Path(pyflink.__file__).parent / "lib" / "*"
    lines = "".join(f"{'' if p is None else p.hex()},{t},{part},{off}\n" for p, t, part, off in records)
    proc = subprocess.run(
        ["java", "-cp", f"{jar}:{flink}", "movieviews.stream.EventKey"],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = [bytes.fromhex(line).decode() for line in proc.stdout.splitlines()]
    assert len(found) == len(records)
    return found


def events() -> list[bytes]:
    """Views and registrations written by every version of their schema, each with a fresh id."""
    return [
        encode(CATALOG, subject, make("m-1"), version)
        for subject, make in ((VIEWED, view_record), (REGISTERED, registration_record))
        for version in CATALOG.versions(subject)
        for _ in range(20)
    ]


def test_every_event_is_keyed_by_its_id_and_any_other_record_by_its_position(jar: Path) -> None:
    rng = random.Random(20261207)
    real = events()
    changed = []
    for payload in real:
        at = rng.randrange(len(payload))
        changed.append(payload[:at] + bytes([rng.randrange(256)]) + payload[at + 1 :])
    corpus: list[bytes | None] = [
        *real,
        *changed,
        *(p[: rng.randrange(len(p))] for p in real),
        *(rng.randbytes(rng.randrange(80)) for _ in range(300)),
        # An id of other bytes than a UUID's, non-ASCII included: the ISO-8859-1 characters, in UTF-8.
        b"\xc3\x01" + bytes(8) + b"\x48" + bytes(range(200, 236)),
        b"\xc3\x01" + bytes(8) + b"\x48" + b"\x00" * 36,
        None,
        b"",
    ]
    records: list[Record] = [(p, "movie-views", i % 3, i) for i, p in enumerate(corpus)]
    found = keys(jar, records)
    wrong = [(r, k) for r, k in zip(records, found, strict=True) if k != defined_key(*r)]
    assert wrong == []
    # Every real event's key is its own id; the same event from another writer version has the same key.
    assert found[: len(real)] == [p[11:47].decode() for p in real]
    assert len(set(found[: len(real)])) == len(real)
