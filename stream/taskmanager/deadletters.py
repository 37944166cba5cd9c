"""The dead-letter record: the original bytes, why they were parked and where they came from.

A later stage's refusal of a row for its own data (the keyed state's, `REFUSED_BY_STATE`; Postgres', reason
`refused-by-postgres` from stream/jvm UpsertSink.java) comes after the views are summed per movie, where no
single record's position is known: its `source_topic` names the stage (`STATE_STAGE`,
`stream.sinks.UPSERT_STAGE`), `partition` and `offset` are `NO_POSITION`, and the payload is the refused row
as a JSON array of its columns, not an event: `movieviews dlq replay` leaves such letters alone."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from stream.errors import StreamError

REFUSED_BY_STATE = "refused-by-state"
STATE_STAGE = "movie-stats"
NO_POSITION = -1


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    detail: str
    source_topic: str
    partition: int
    offset: int
    payload_b64: str

    @classmethod
    def of(cls, reason: str, detail: str, source: tuple[str, int, int], payload: bytes) -> DeadLetter:
        """`source` is (topic, partition, offset)."""
        topic, partition, offset = source
        return cls(reason, detail, topic, partition, offset, base64.b64encode(payload).decode("ascii"))

    @property
    def replayable(self) -> bool:
        """An event read from a source topic, not a row a later stage refused."""
        return self.partition != NO_POSITION

    @property
    def payload(self) -> bytes:
        return base64.b64decode(self.payload_b64)

    def to_json(self) -> str:
        # vars(), not asdict(): the job pickles this class by value (`stream.job`), and cloudpickle 2.2 (what
        # Beam pins for PyFlink) rebuilds such a dataclass with field markers that `fields()` no longer knows.
        return json.dumps(vars(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> DeadLetter:
        try:
            fields: dict[str, Any] = json.loads(text)
            return cls(**fields)
        except (ValueError, TypeError) as exc:
            raise StreamError(f"not a dead letter: {text!r:.200}") from exc
