"""The JVM reader of MovieViewed views (stream/jvm/src/movieviews/stream/ViewReader.java), the job's hot path:
SQL `read_view(payload)` yields (movie_id, occurred_ms, watch_seconds, event_minute) for a view of a writer it
knows, nothing for anything else, which goes on to the Python decoder.

Why in the JVM (stream/DEDUP.md, docs/PERFORMANCE.md): with every view decoded in Python, the decode function
and `movie-stats` shared one interpreter's GIL and held it ~100% of the time, and the deduplication's JVM
work no longer fitted beside it on two cores. Read in the JVM, the views are summed per movie by a Flink SQL
window aggregate, and Python sees one row per movie and minute per batch.
"""

from __future__ import annotations

from pathlib import Path

from ingest.fastenc import V1_FIELDS, V2_FIELDS
from schemas import fields
from schemas.catalog import Catalog
from schemas.subjects import VIEWED
from schemas.wire import MAGIC

FUNCTION = "read_view"
FUNCTION_CLASS = "movieviews.stream.ReadView"
# The job parameters the function reads its known headers and the bounds of a valid field from
# (ReadView.LAYOUTS, ReadView.BOUNDS).
LAYOUTS_PARAMETER = "movieviews.view-layouts"
BOUNDS_PARAMETER = "movieviews.view-bounds"
SOURCES = Path(__file__).parent / "jvm" / "src"
JAR_NAME = "movieviews-stream.jar"


def view_layouts(catalog: Catalog) -> str:
    """Every header (marker and fingerprint, aliases too) of the MovieViewed writers the reader knows, with
    whether that writer has the v2 tail: "<header hex>=<0|1>" joined by ';'."""
    items = []
    for entry in catalog.versions(VIEWED).values():
        fields = tuple(f["name"] for f in entry.schema["fields"])
        if fields in (V1_FIELDS, V2_FIELDS) and entry.version in (1, 2):
            tail = int(fields == V2_FIELDS)
            items += [f"{(MAGIC + fingerprint).hex()}={tail}" for fingerprint in catalog.headers(entry)]
    return ";".join(items)


def view_bounds() -> str:
    """The bounds of `schemas.fields` the reader passes values within (anything else goes to the Python
    decoder): "idMax;textMax;occurredMin;occurredMax;watchMax". Sent, not copied into the Java, so there is
    one definition."""
    limits = (
        fields.ID_MAX_CHARS,
        fields.TEXT_MAX_CHARS,
        fields.OCCURRED_MIN_MS,
        fields.OCCURRED_MAX_MS,
        fields.WATCH_SECONDS_MAX,
    )
    return ";".join(map(str, limits))
