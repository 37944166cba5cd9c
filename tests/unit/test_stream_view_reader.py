"""The JVM view reader (stream/jvm) agrees with the Python codec on every view it reads, reads every valid
view of a known writer whose strings are all ASCII, and declines the rest: it never passes on a value the one
definition of a valid field (schemas.fields) refuses; the Python decoder judges whatever it declines.

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
from schemas.codec import decode, encode
from schemas.fields import ID_MAX_CHARS, OCCURRED_MAX_MS, OCCURRED_MIN_MS, TEXT_MAX_CHARS, WATCH_SECONDS_MAX
from schemas.subjects import REGISTERED, VIEWED
from schemas.wire import MAGIC
from stream.errors import EmptyMovieIdError, InvalidFieldValueError, RejectedEventError
from stream.taskmanager.decoding import decode_event
from stream.taskmanager.state import Views
from stream.taskmanager.trending import MINUTE_MS
from stream.viewreader import view_bounds, view_layouts

CATALOG = Catalog.bundled()
CHARACTERS = "ab Z9-_ \t\n\x00\x1c\x7f\x85\xa0\u3000\u202e\u200b\u2028é日🎬"
INT64 = (-(2**63), 2**63 - 1)
OCCURRED = (OCCURRED_MIN_MS, OCCURRED_MAX_MS, 59_999, 1_790_000_000_000)
OUT_OF_BOUNDS = (OCCURRED_MIN_MS - 1, OCCURRED_MAX_MS + 1, -60_001, *INT64)


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
        ["java", "-cp", str(jar), "movieviews.stream.ViewReader", view_layouts(CATALOG), view_bounds()],
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


def ascii_text(rng: random.Random) -> str:
    return "".join(rng.choice("abZ9-_ ") for _ in range(rng.choice([1, 2, 5, 30]))) + "x"


def any_text(rng: random.Random) -> str:
    return rng.choice([text, ascii_text, ascii_text])(rng)


def view(rng: random.Random) -> bytes:
    version = rng.choice([1, 2])
    occurred = rng.choice([*OCCURRED, *OCCURRED, rng.choice(OUT_OF_BOUNDS), rng.randint(*INT64)])
    watched = rng.choice([None, 0, WATCH_SECONDS_MAX, rng.randint(-(2**31), 2**31 - 1)])
    record = {
        "event_id": f"{rng.getrandbits(128):032x}",
        "movie_id": any_text(rng),
        "user_id": rng.choice([None, any_text(rng)]),
        "occurred_at": occurred,
    }
    if version == 2:
        record |= {
            "device": rng.choice([None, any_text(rng)]),
            "country": rng.choice([None, any_text(rng)]),
            "watch_seconds": watched,
        }
    return with_any_header(encode(CATALOG, VIEWED, record, version=version), version, rng)


def with_any_header(payload: bytes, version: int, rng: random.Random) -> bytes:
    # Under any fingerprint that names the writer: the avro package's variant too (test_schemas_interop.py).
    fingerprint = rng.choice(CATALOG.headers(CATALOG.versions(VIEWED)[version]))
    return MAGIC + fingerprint + payload[10:]


def all_strings_ascii(payload: bytes) -> bool:
    record = decode(CATALOG, payload, logical=False).record
    return all(value.isascii() for value in record.values() if isinstance(value, str))


def test_every_valid_view_whose_strings_are_ascii_is_read_as_the_codec_reads_it(reader: Path) -> None:
    rng = random.Random(11)
    payloads = [view(rng) for _ in range(1500)]
    reads = read_all(reader, payloads)
    for payload, read in zip(payloads, reads, strict=True):
        counted = python_reads(payload) is not None
        assert (read is not None) == (counted and all_strings_ascii(payload)), payload.hex()
        assert agrees(payload, read), payload.hex()
    assert sum(read is not None for read in reads) > 300


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
    assert sum(read is not None for read in reads) > 300


def test_an_unknown_writer_a_registration_and_an_empty_value_are_declined(reader: Path) -> None:
    known = view(random.Random(3))
    payloads = [b"\xc3\x01" + bytes(8) + known[10:], b"", b"\xc3\x01", known[:2] + b"\xff" * 8 + known[10:]]
    assert read_all(reader, payloads) == [None] * len(payloads)


HOSTILE_MOVIE_IDS = {
    "nul": "a\x00b",
    "tab": "a\tb",
    "delete": "a\x7fb",
    "c1 control": "a\x85b",
    "bidi override": "abc\u202efdp.exe",
    "bidi isolate": "a\u2066b",
    "left-to-right mark": "a\u200eb",
    "zero-width space": "a\u200bb",
    "line separator": "a\u2028b",
    "only spaces": "   ",
    "not nfc": "cafe\u0301",
    "one past the longest": "m" * (ID_MAX_CHARS + 1),
}


def hostile_view(movie_id: str, **fields: object) -> bytes:
    record: dict[str, object] = {"event_id": "6f1c1f7e-7a44-4f53-9b7e-2f3c7a1d8e11", "movie_id": movie_id}
    record |= {
        "user_id": None,
        "occurred_at": 1_700_000_000_000,
        "device": None,
        "country": None,
        "watch_seconds": None,
    }
    return encode(CATALOG, VIEWED, record | fields, version=2)


def test_the_jvm_reader_passes_on_no_hostile_string_or_number_and_the_decoder_refuses_each(
    reader: Path,
) -> None:
    payloads = [hostile_view(movie_id) for movie_id in HOSTILE_MOVIE_IDS.values()]
    payloads += [
        hostile_view("m-1", device="t\x00v"),
        hostile_view("m-1", user_id="u\u202e1"),
        hostile_view("m-1", country="N" * (TEXT_MAX_CHARS + 1)),
        hostile_view("m-1", occurred_at=OCCURRED_MIN_MS - 1),
        hostile_view("m-1", occurred_at=OCCURRED_MAX_MS + 1),
        hostile_view("m-1", watch_seconds=-1),
        hostile_view("m-1", watch_seconds=WATCH_SECONDS_MAX + 1),
    ]
    assert read_all(reader, payloads) == [None] * len(payloads)
    blank = hostile_view(HOSTILE_MOVIE_IDS["only spaces"])
    for payload in payloads:
        with pytest.raises(EmptyMovieIdError if payload == blank else InvalidFieldValueError):
            decode_event(CATALOG, payload)


def test_the_jvm_reader_reads_the_longest_ascii_values_and_the_bounds_and_leaves_non_ascii_to_the_decoder(
    reader: Path,
) -> None:
    longest = "m" * ID_MAX_CHARS
    read = [
        hostile_view(longest, user_id="u" * TEXT_MAX_CHARS, watch_seconds=WATCH_SECONDS_MAX),
        hostile_view("m-1", occurred_at=OCCURRED_MIN_MS),
        hostile_view("m-1", occurred_at=OCCURRED_MAX_MS),
    ]
    # Valid, so the decoder counts them, but not ASCII: the JVM reader declines them.
    declined = [hostile_view("🎬" * ID_MAX_CHARS), hostile_view("café"), hostile_view("m-1", device="télé")]
    reads = read_all(reader, read + declined)
    assert reads[: len(read)] == [
        Read(longest, 1_700_000_000_000, WATCH_SECONDS_MAX, 1_700_000_000_000 // MINUTE_MS),
        Read("m-1", OCCURRED_MIN_MS, 0, 0),
        Read("m-1", OCCURRED_MAX_MS, 0, OCCURRED_MAX_MS // MINUTE_MS),
    ]
    assert reads[len(read) :] == [None] * len(declined)
    assert [decode_event(CATALOG, p).movie_id for p in declined] == ["🎬" * ID_MAX_CHARS, "café", "m-1"]


# Each field any released writer has, set to a valid ASCII value: a writer with a field not here fails the
# test below until it is added.
EVERY_FIELD = {
    "event_id": "6f1c1f7e-7a44-4f53-9b7e-2f3c7a1d8e11",
    "movie_id": "m-1",
    "user_id": "u-1",
    "occurred_at": 1_700_000_000_000,
    "device": "tv",
    "country": "NL",
    "watch_seconds": 42,
    "title": "Heat",
    "year": 1995,
    "genre": "crime",
}


def every_field_of(subject: str, version: int) -> bytes:
    entry = CATALOG.versions(subject)[version]
    record = {field["name"]: EVERY_FIELD[field["name"]] for field in entry.schema["fields"]}
    return encode(CATALOG, subject, record, version=version)


def test_each_released_view_writer_under_each_header_is_read_as_the_codec_reads_it_and_a_registration_is_not(
    reader: Path,
) -> None:
    views = []
    for version, entry in CATALOG.versions(VIEWED).items():
        payload = every_field_of(VIEWED, version)
        views += [MAGIC + header + payload[10:] for header in CATALOG.headers(entry)]
    registrations = [every_field_of(REGISTERED, version) for version in CATALOG.versions(REGISTERED)]
    reads = read_all(reader, views + registrations)

    assert len(views) > len(CATALOG.versions(VIEWED)) >= 2  # aliases too
    for payload, read in zip(views, reads[: len(views)], strict=True):
        assert read is not None and agrees(payload, read), payload.hex()
    assert {read.watch_seconds for read in reads[: len(views)] if read} == {0, 42}  # v1 has none: 0
    assert reads[len(views) :] == [None] * len(registrations)
