"""The dead-letter record: the original bytes, why they were parked and where they came from."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from stream.errors import StreamError


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
