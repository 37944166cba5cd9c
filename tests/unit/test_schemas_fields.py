"""The one definition of a valid field (schemas.fields): each refused class of character, the length bounds
at and one past, normalisation, the numeric bounds, and errors that name the field and show the value."""

from __future__ import annotations

import sys
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas import fields
from schemas.errors import SHOWN_MAX, InvalidFieldError, SchemaError

REFUSED = {
    "nul": "\x00",
    "escape": "\x1b",
    "tab": "\t",
    "newline": "\n",
    "delete": "\x7f",
    "c1 next line": "\x85",
    "lone high surrogate": "\ud800",
    "lone low surrogate": "\udfff",
    "left-to-right embedding": "\u202a",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
    "pop directional isolate": "\u2069",
    "left-to-right mark": "\u200e",
    "right-to-left mark": "\u200f",
    "zero-width space": "\u200b",
    "soft hyphen": "\u00ad",
    "byte order mark": "\ufeff",
    "tag latin small a": "\U000e0061",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
}
JOINERS = {"zero-width non-joiner": "\u200c", "zero-width joiner": "\u200d"}


@pytest.mark.parametrize("char", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("check", [fields.check_id, fields.check_text, fields.normalise_text])
def test_a_refused_character_anywhere_is_refused_naming_its_code_point(check: object, char: str) -> None:
    for value in (f"{char}ab", f"a{char}b", f"ab{char}"):
        with pytest.raises(InvalidFieldError, match=f"U\\+{ord(char):04X}") as caught:
            check("movie_id", value)  # type: ignore[operator]
        assert caught.value.field == "movie_id" and caught.value.value == value


def test_every_format_character_of_this_unicode_version_is_refused_in_an_id() -> None:
    format_chars = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert len(format_chars) == 163
    for char in format_chars:
        with pytest.raises(InvalidFieldError):
            fields.check_id("movie_id", f"a{char}b")


def test_the_decision_is_made_with_the_unicode_tables_of_python_3_11() -> None:
    # Categories of newly assigned characters change with the tables: a new Python decides anew, so a
    # replay across an upgrade is a decision to take knowingly (schemas/README.md, "Valid fields").
    assert unicodedata.unidata_version == "14.0.0"


@pytest.mark.parametrize("joiner", JOINERS.values(), ids=JOINERS.keys())
def test_the_joiners_spell_a_text_but_are_refused_in_an_id(joiner: str) -> None:
    assert fields.check_text("title", f"a{joiner}b") == f"a{joiner}b"
    with pytest.raises(InvalidFieldError, match="invisible format character"):
        fields.check_id("movie_id", f"a{joiner}b")


@pytest.mark.parametrize("value", ["", " ", "\u3000 \u00a0", "   \u2003"])
def test_an_empty_or_whitespace_only_string_is_refused(value: str) -> None:
    for check in (fields.check_id, fields.check_text):
        with pytest.raises(InvalidFieldError, match="empty or only whitespace"):
            check("genre", value)


@pytest.mark.parametrize("value", [None, 42, b"m-1", ["m-1"]])
def test_a_value_that_is_no_string_is_refused(value: object) -> None:
    with pytest.raises(InvalidFieldError, match="must be a string"):
        fields.check_id("movie_id", value)


@pytest.mark.parametrize(
    ("check", "longest"), [(fields.check_id, fields.ID_MAX_CHARS), (fields.check_text, fields.TEXT_MAX_CHARS)]
)
def test_the_longest_string_is_accepted_in_characters_and_in_bytes_and_one_past_is_refused(
    check: object, longest: int
) -> None:
    for char in ("m", "é", "日", "🎬"):  # 1 to 4 bytes of UTF-8 each
        assert check("f", char * longest) == char * longest  # type: ignore[operator]
        with pytest.raises(InvalidFieldError, match=f"at most {longest} characters, not {longest + 1}"):
            check("f", char * (longest + 1))  # type: ignore[operator]
    assert len(("🎬" * longest).encode()) == longest * fields.UTF8_MAX_BYTES_PER_CHAR


def test_the_longest_genre_and_movie_id_fit_one_postgres_index_entry() -> None:
    # ix_movie_stats_genre_rank: (genre, view_count, movie_id); a btree entry holds at most about 2,700 bytes.
    assert fields.TEXT_MAX_BYTES + 8 + fields.ID_MAX_BYTES < 2_700


def test_non_bmp_characters_private_use_and_unassigned_code_points_are_accepted() -> None:
    for value in ("🎬 Alien", "𝔄𝔩𝔦𝔢𝔫", "\ue000x", "\U000e0100x", "a\U0003ffffb"):
        assert fields.check_id("movie_id", value) == value


def test_an_id_must_already_be_nfc_and_a_text_is_normalised_to_it() -> None:
    decomposed = "cafe\u0301"
    with pytest.raises(InvalidFieldError, match="NFC"):
        fields.check_id("movie_id", decomposed)
    with pytest.raises(InvalidFieldError, match="NFC"):
        fields.check_text("genre", decomposed)
    assert fields.normalise_text("genre", decomposed) == "café" == fields.check_id("movie_id", "café")


def test_the_numeric_bounds_are_fixed_and_inclusive() -> None:
    assert fields.check_year("year", fields.YEAR_MIN) == 1870 and fields.check_year("year", 2100) == 2100
    assert fields.check_watch_seconds("watch_seconds", 0) == 0
    assert fields.check_watch_seconds("watch_seconds", 604_800) == 604_800
    assert fields.check_occurred_ms("occurred_at", 0) == 0
    assert fields.check_occurred_ms("occurred_at", 4_102_444_800_000) == fields.OCCURRED_MAX_MS
    for check, value in [
        (fields.check_year, 1869),
        (fields.check_year, 2101),
        (fields.check_year, True),
        (fields.check_watch_seconds, -1),
        (fields.check_watch_seconds, 604_801),
        (fields.check_occurred_ms, -1),
        (fields.check_occurred_ms, fields.OCCURRED_MAX_MS + 1),
        (fields.check_occurred_ms, 2**63 - 1),
        (fields.check_occurred_ms, 1.5),
    ]:
        with pytest.raises(InvalidFieldError):
            check("f", value)


def test_occurred_at_as_a_datetime_has_the_same_bounds_and_comes_back_in_utc() -> None:
    end = datetime(2100, 1, 1, tzinfo=UTC)
    local = datetime(2100, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    assert fields.check_occurred_at("occurred_at", local) == end
    for bad in (
        end + timedelta(milliseconds=1),
        datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2000, 1, 1),
    ):
        with pytest.raises(InvalidFieldError, match="occurred_at"):
            fields.check_occurred_at("occurred_at", bad)


def test_the_error_names_the_field_and_shows_the_value_cut_short() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        fields.check_text("movie_id", "a\x00" + "b" * 200)
    message = str(caught.value)
    assert message.startswith(
        "movie_id must not contain U+0000 (Cc, a control character) at 1, got 'a\\x00bbb"
    )
    assert message.endswith("...") and len(message) < 200
    assert isinstance(caught.value, SchemaError) and len(caught.value.value) == 202
    assert len(message.split(", got ")[1]) == SHOWN_MAX


def test_a_view_and_a_registration_record_are_checked_field_by_field() -> None:
    view = {"movie_id": "m-1", "user_id": None, "occurred_at": 5, "device": "tv", "watch_seconds": None}
    fields.check_viewed(view)
    with pytest.raises(InvalidFieldError, match=r"^device"):
        fields.check_viewed({**view, "device": "t\x00v"})
    movie = {"movie_id": "m-1", "title": "Alien", "genre": "sci-fi", "year": 1979, "occurred_at": 5}
    fields.check_registered(movie)
    with pytest.raises(InvalidFieldError, match=r"^genre"):
        fields.check_registered({**movie, "genre": "sci\u202efi"})
