"""The JVM view reader (stream/jvm) agrees with the Python codec on every view it reads, reads every
well-formed view of a known writer whose movie id has a visible ASCII character, and declines the rest.

The corpus is generated here and read by one JVM (`ViewReader.main`), not one per example: a few thousand
payloads, seeded, so a failure names a payload that can be replayed."""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.jars import build_stream_jar
from schemas.catalog import Catalog
from schemas.codec import encode
from schemas.subjects import VIEWED
from schemas.wire import MAGIC
from stream.errors import RejectedEventError
from stream.taskmanager.decoding import decode_event
from stream.taskmanager.state import Views
from stream.taskmanager.trending import MINUTE_MS
from stream.viewreader import view_layouts

CATALOG = Catalog.bundled()
CHARACTERS = "ab Z9-_ \t\n\x1c\x85\xa0\u3000é日🎬"
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Read:
    movie_id: str
    occurred_ms: int
    watch_seconds: int
    minute: int


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    jar = tmp_path_factory.mktemp("jvm") / "movieviews-stream.jar"
    build_stream_jar(jar)
    return jar


def read_all(jar: Path, payloads: list[bytes]) -> list[Read | None]:
    proc = subprocess.run(
        ["java", "-cp", str(jar), "movieviews.stream.ViewReader", view_layouts(CATALOG)],
        input="".join(p.hex() + "\n" for p in payloads),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    out: list[Read | None] = []
    for line in proc.stdout.splitlines():
        if line == "-":
            out.append(None)
        else:
            movie, occurred, watched, minute = line.split(",")
            out.append(Read(bytes.fromhex(movie).decode(), int(occurred), int(watched), int(minute)))
    assert len(out) == len(payloads)
    return out


def python_reads(payload: bytes) -> Views | None:
    try:
        event = decode_event(CATALOG, payload)
    except RejectedEventError:
        return None
    return event if isinstance(event, Views) else None


def agrees(payload: bytes, read: Read | None) -> bool:
    if read is None:
        return True
    expected = Views(read.movie_id, 1, read.watch_seconds, read.occurred_ms, read.occurred_ms)
    return python_reads(payload) == expected and read.minute == read.occurred_ms // MINUTE_MS


def text(rng: random.Random) -> str:
    return "".join(rng.choice(CHARACTERS) for _ in range(rng.choice([0, 1, 2, 5, 30])))


def view(rng: random.Random) -> bytes:
    version = rng.choice([1, 2])
    occurred = rng.choice([0, -1, 59_999, -60_001, *INT64, rng.randint(*INT64), 1_790_000_000_000])
    record = {
        "event_id": f"{rng.getrandbits(128):032x}",
        "movie_id": text(rng),
        "user_id": rng.choice([None, text(rng)]),
        "occurred_at": occurred,
    }
    if version == 2:
        record |= {
            "device": rng.choice([None, text(rng)]),
            "country": rng.choice([None, text(rng)]),
            "watch_seconds": rng.choice([None, 0, rng.randint(-(2**31), 2**31 - 1)]),
        }
    payload = encode(CATALOG, VIEWED, record, version=version)
    # Under any fingerprint that names the writer: the avro package's variant too (test_schemas_interop.py).
    fingerprint = rng.choice(CATALOG.headers(CATALOG.versions(VIEWED)[version]))
    return MAGIC + fingerprint + payload[10:]


def visible_ascii(movie_id: str) -> bool:
    return any("!" <= c <= "~" for c in movie_id)


def test_every_well_formed_view_with_a_visible_movie_id_is_read_as_the_codec_reads_it(reader: Path) -> None:
    rng = random.Random(11)
    payloads = [view(rng) for _ in range(1500)]
    reads = read_all(reader, payloads)
    for payload, read in zip(payloads, reads, strict=True):
        movie_id = decode_event(CATALOG, payload).movie_id if python_reads(payload) else None
        assert (read is not None) == (movie_id is not None and visible_ascii(movie_id)), payload.hex()
        assert agrees(payload, read), payload.hex()
    assert sum(read is not None for read in reads) > 600


def test_truncated_extended_or_random_bytes_behind_a_known_header_are_declined_or_read_as_the_codec_does(
    reader: Path,
) -> None:
    rng = random.Random(17)
    header = view(rng)[:10]
    payloads = []
    for _ in range(1500):
        payload = view(rng)
        payloads.append(payload[: rng.randint(0, len(payload))])
        payloads.append(payload + rng.randbytes(rng.randint(1, 4)))
        payloads.append(header + rng.randbytes(rng.randint(0, 60)))
        flipped = bytearray(payload)
        flipped[rng.randrange(10, len(payload))] ^= 1 << rng.randrange(8)
        payloads.append(bytes(flipped))
    reads = read_all(reader, payloads)
    assert all(agrees(p, r) for p, r in zip(payloads, reads, strict=True))
    assert sum(read is not None for read in reads) > 500


def test_an_unknown_writer_a_registration_and_an_empty_value_are_declined(reader: Path) -> None:
    known = view(random.Random(3))
    payloads = [b"\xc3\x01" + bytes(8) + known[10:], b"", b"\xc3\x01", known[:2] + b"\xff" * 8 + known[10:]]
    assert read_all(reader, payloads) == [None] * len(payloads)
