"""One Kafka partition's records of one short window that the JVM view reader (`stream.viewreader`) did not
read, decoded and summed per movie: the pure part of the decode step (the Table function in
`stream.taskmanager.functions` only converts what this yields to rows). Registrations, views of writers the
JVM reader does not know (a schema registered at run time), and everything to reject.

A whole batch crosses from the JVM into Python in one call, and what leaves is one summed `Views` per movie,
each registration, and each dead letter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from schemas.catalog import Catalog
from stream.errors import RejectedEventError
from stream.taskmanager.deadletters import DeadLetter
from stream.taskmanager.decoding import decode_event
from stream.taskmanager.state import Registered, Views
from stream.taskmanager.trending import MINUTE_MS


def decode_batch(
    catalog: Catalog,
    source: tuple[str, int],
    offsets: Sequence[int],
    payloads: Sequence[bytes | None],
) -> Iterator[Views | Registered | DeadLetter]:
    """`source` is (topic, partition); `offsets[i]` is where `payloads[i]` was read."""
    topic, partition = source
    # movie -> [count, watch_seconds, first_ms, last_ms]; and
    # movie -> {event-time minute: views} for trending (a batch of live events spans one or two minutes).
    sums: dict[str, list[int]] = {}
    minutes: dict[str, dict[int, int]] = {}
    for offset, payload in zip(offsets, payloads, strict=True):
        data = payload or b""  # a tombstone is undecodable like any other empty value
        try:
            event = decode_event(catalog, data)
        except RejectedEventError as exc:
            yield DeadLetter.of(exc.reason, str(exc), (topic, partition, offset), data)
            continue
        if isinstance(event, Registered):
            yield event
            continue
        movie_id, occurred, watched = event.movie_id, event.first_ms, event.watch_seconds
        minute = occurred // MINUTE_MS
        total = sums.get(movie_id)
        if total is None:
            sums[movie_id] = [1, watched, occurred, occurred]
            minutes[movie_id] = {minute: 1}
        else:
            per_minute = minutes[movie_id]
            per_minute[minute] = per_minute.get(minute, 0) + 1
            total[0] += 1
            total[1] += watched
            if occurred < total[2]:
                total[2] = occurred
            if occurred > total[3]:
                total[3] = occurred
    for movie_id, (count, watched, first, last) in sums.items():
        yield Views(movie_id, count, watched, first, last, tuple(minutes[movie_id].items()))
