"""The one definition of a valid event field, enforced by every boundary: the API refuses the request, the
producers refuse the event, the stream job dead-letters the record (`invalid_field`). `schemas/README.md`
("Valid fields") gives the reasons; here are the rules.

Strings:
- an *id* (`movie_id`) is an opaque key: 1 to 128 characters, already NFC (never rewritten: a key the
  client sent is the key it reads back), no control (Cc), surrogate (Cs), format (Cf) or line/paragraph
  separator (Zl, Zp) character, not only whitespace;
- a *text* (`title`, `genre`, `user_id`, `device`, `country`) is shown to people: 1 to 256 characters, NFC
  (the API and producers normalise it, the job refuses another spelling), the same characters refused except
  the two joiners U+200C and U+200D, which spell words in Persian and Indic scripts and join emoji.
Characters are code points (what Python's `len` counts), so UTF-8 takes at most 4 bytes each.

Numbers have fixed bounds, never relative to the clock, so a replay decides as the first run did.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from schemas.errors import InvalidFieldError

ID_MAX_CHARS = 128
TEXT_MAX_CHARS = 256
UTF8_MAX_BYTES_PER_CHAR = 4
# The byte bounds follow from the character bounds. The tightest store is Postgres' btree index entry (about
# 2,700 bytes on 8 KB pages): ix_movie_stats_genre_rank holds a genre and a movie id, 1,536 bytes at most.
ID_MAX_BYTES = ID_MAX_CHARS * UTF8_MAX_BYTES_PER_CHAR
TEXT_MAX_BYTES = TEXT_MAX_CHARS * UTF8_MAX_BYTES_PER_CHAR

# Categories refused in every string: controls (NUL, which Postgres text cannot hold, and the rest), lone
# surrogates (not encodable as UTF-8), format characters (invisible: bidi embeddings, overrides and isolates
# reorder what a reader sees, as in "Trojan Source"; zero-width spaces, soft hyphens, BOMs and tag characters
# make two strings that look the same differ) and the line and paragraph separators.
REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Cf", "Zl", "Zp"})
# Format characters a text may hold: zero-width non-joiner and joiner.
TEXT_JOINERS = frozenset({"\u200c", "\u200d"})
CATEGORY_NAMES = {
    "Cc": "a control character",
    "Cs": "a lone surrogate",
    "Cf": "an invisible format character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}

# The first film (Roundhay Garden Scene, 1888) with room for earlier experiments; announced films to 2100.
YEAR_MIN, YEAR_MAX = 1870, 2100
# occurred_at (timestamp-millis): from the Unix epoch to the start of 2100, inclusive. Inside Python's
# datetime, Postgres' timestamptz and Java's Instant alike, and no negative millis (no view predates 1970).
OCCURRED_MIN_MS = 0
OCCURRED_MAX_MS = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp() * 1000)
# One view is one sitting: a week covers any film. Summed in a BIGINT, 2^63 / 604,800 = 1.5e13 views of a
# movie at the maximum before it could overflow.
WATCH_SECONDS_MAX = 7 * 24 * 3600


def check_id(field: str, value: object) -> str:
    """`value` if it is a valid id, else InvalidFieldError naming `field`."""
    return _check_string(field, value, ID_MAX_CHARS, frozenset())


def check_text(field: str, value: object) -> str:
    """`value` if it is a valid text, else InvalidFieldError naming `field`; a non-NFC text is refused."""
    return _check_string(field, value, TEXT_MAX_CHARS, TEXT_JOINERS)


def normalise_text(field: str, value: object) -> str:
    """A text in NFC, then checked: what the API and producers store, whatever spelling they were sent."""
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value)
    return check_text(field, value)


def check_int(field: str, value: object, low: int, high: int) -> int:
    # bool is an int subclass; True as a year is a caller bug, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidFieldError(field, value, f"must be an integer in {low}..{high}")
    return value


def check_year(field: str, value: object) -> int:
    return check_int(field, value, YEAR_MIN, YEAR_MAX)


def check_watch_seconds(field: str, value: object) -> int:
    return check_int(field, value, 0, WATCH_SECONDS_MAX)


def check_occurred_ms(field: str, value: object) -> int:
    """Epoch milliseconds within the fixed bounds, as the job reads `occurred_at`."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not OCCURRED_MIN_MS <= value <= OCCURRED_MAX_MS
    ):
        raise InvalidFieldError(
            field, value, f"must be epoch milliseconds in {OCCURRED_MIN_MS}..{OCCURRED_MAX_MS} (1970 to 2100)"
        )
    return value


def check_occurred_at(field: str, value: object) -> datetime:
    """A timezone-aware datetime within the fixed bounds, in UTC, as the producers write `occurred_at`."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidFieldError(field, value, "must be a timezone-aware datetime")
    check_occurred_ms(field, _epoch_ms(value))
    return value.astimezone(UTC)


def check_viewed(record: Mapping[str, Any]) -> None:
    """A MovieViewed record of any version as the codec reads it (`occurred_at` in epoch millis)."""
    check_id("movie_id", record.get("movie_id"))
    check_occurred_ms("occurred_at", record.get("occurred_at"))
    for name in ("user_id", "device", "country"):
        if record.get(name) is not None:
            check_text(name, record[name])
    if record.get("watch_seconds") is not None:
        check_watch_seconds("watch_seconds", record["watch_seconds"])


def check_registered(record: Mapping[str, Any]) -> None:
    """A MovieRegistered record as the codec reads it (`occurred_at` in epoch millis)."""
    check_id("movie_id", record.get("movie_id"))
    check_text("title", record.get("title"))
    check_text("genre", record.get("genre"))
    check_year("year", record.get("year"))
    check_occurred_ms("occurred_at", record.get("occurred_at"))


def _epoch_ms(value: datetime) -> int:
    # As fastavro writes timestamp-millis: whole milliseconds since the epoch.
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _check_string(field: str, value: object, max_chars: int, allowed: frozenset[str]) -> str:
    if not isinstance(value, str):
        raise InvalidFieldError(field, value, "must be a string")
    if not value.strip():
        raise InvalidFieldError(field, value, "must not be empty or only whitespace")
    if len(value) > max_chars:
        raise InvalidFieldError(field, value, f"must be at most {max_chars} characters, not {len(value)}")
    # Printable ASCII (U+0020-U+007E) is the common case: one C-level scan, and already NFC.
    if value.isascii() and value.isprintable():
        return value
    for position, char in enumerate(value):
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES and char not in allowed:
            what = f"U+{ord(char):04X} ({category}, {CATEGORY_NAMES[category]}) at {position}"
            raise InvalidFieldError(field, value, f"must not contain {what}")
    if not unicodedata.is_normalized("NFC", value):
        raise InvalidFieldError(field, value, "must be in Unicode normalisation form NFC")
    return value
