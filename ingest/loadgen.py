"""MovieViewed load with Zipf-like movie popularity and a ground-truth file (`movieviews produce`).

Only acknowledged events count: the truth file holds, per movie, the events the broker acknowledged, which is
what the stream job must end up counting. Values are pre-encoded (`ingest.fastenc`) so one process passes
100k acknowledged events/s.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.errors import PublishError, ValidationError
from ingest.fastenc import ViewTemplate, avro_long, uuid4_strings
from ingest.publisher import QUEUE_FULL_WAIT_S, KafkaSettings, Publisher
from schemas.catalog import Catalog
from schemas.errors import InvalidFieldError
from schemas.fields import check_id
from schemas.subjects import VIEWED

LOAD_PRODUCER_CONFIG: dict[str, Any] = {
    # 20 ms fills batches of thousands of events at full speed; longer adds latency, not throughput.
    "linger_ms": 20,
    # The uuid hex and repeated movie ids compress, so the broker writes less: +7-20% acked/s in a quiet
    # prototype run; within noise when the machine was busy.
    "compression_type": "lz4",
    # Lets the Python loop run ahead of the network in bursts (about 100 MB at worst) instead of blocking.
    "queue_buffering_max_messages": 1_000_000,
    # Success reports cost a Python callback per event (~20% of the loop): only failures are reported, and an
    # event counts as acknowledged once flush() has resolved everything without reporting it failed.
    "delivery_report_only_error": True,
}
# The producer's message.timeout.ms (the publisher's 30 s unless a caller rides out a longer outage); flush
# waits longer than that, so when it returns every event has its outcome.
DELIVERY_TIMEOUT_S = 30.0
FLUSH_MARGIN_S = 30.0
SAMPLE_BITS = 20
BATCH = 5_000  # events drawn, stamped and encoded per step; also the progress granularity
TICK_S = 0.01  # pacing step of --rate
PROGRESS_EVERY_S = 0.25
USERS = 10_000
ANONYMOUS_SHARE = 0.2
DEVICES = ("tv", "mobile", "web", "tablet")
COUNTRIES = ("NL", "US", "DE", "FR", "BR", "IN", "JP", "GB")
TAIL_VARIANTS = 256


@dataclass(frozen=True)
class Progress:
    sent: int
    acknowledged: int
    failed: int
    total: int
    elapsed_s: float
    final: bool = False


@dataclass
class LoadResult:
    topic: str
    sent: int
    acknowledged: int
    failed: int
    elapsed_s: float
    per_movie: dict[str, int] = field(repr=False)
    sent_v2: int = 0

    @property
    def events_per_s(self) -> float:
        return self.acknowledged / self.elapsed_s if self.elapsed_s else 0.0

    def write_truth(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        truth = {"topic": self.topic, "acknowledged": self.acknowledged, "per_movie": self.per_movie}
        path.write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return path

    def summary(self) -> str:
        return (
            f"sent {self.sent:,}  acknowledged {self.acknowledged:,}  failed {self.failed:,}  "
            f"in {self.elapsed_s:.2f} s  {self.events_per_s:,.0f} acknowledged events/s"
        )


def movie_ids(count: int, prefix: str = "m-") -> list[str]:
    width = len(str(count))
    ids = [f"{prefix}{n:0{width}d}" for n in range(1, count + 1)]
    if ids:
        # The templates bypass the events' checks. Every id is the prefix and ASCII digits of one width, so
        # the first decides for all.
        try:
            check_id("movie_id", ids[0])
        except InvalidFieldError as exc:
            raise ValidationError.of(exc) from exc
    return ids


def table_bits(count: int) -> int:
    """2^20 slots, or for more movies than that the next power of two: every movie then has a slot. With
    2^20 slots for 2^24 movies, a uniform draw reached one movie in 16: a 10M-movie `bench state-scale` had
    0.9M movies at 2M views."""
    return max(SAMPLE_BITS, (count - 1).bit_length())


def zipf_table(count: int, exponent: float, bits: int = SAMPLE_BITS) -> list[int]:
    """Movie index per slot of a 2^bits table, slots in proportion to 1/rank^s (the first movie is the top).

    Drawing is then one random number and a list index per event; `random.choices` bisects per event and
    cost a third of the loop. With 2^20 slots the rarest of 1,000 movies (s=1.1) is within 1% of its weight.
    """
    cumulative = list(itertools.accumulate(1.0 / rank**exponent for rank in range(1, count + 1)))
    size = 1 << bits
    table: list[int] = []
    for index, upto in enumerate(cumulative):
        table.extend([index] * (round(upto / cumulative[-1] * size) - len(table)))
    return table


def generate(
    settings: KafkaSettings,
    *,
    events: int | None = None,
    rate: float | None = None,
    seconds: float | None = None,
    movies: int = 1000,
    v2_share: float = 0.0,
    zipf: float = 1.1,
    topic: str | None = None,
    movie_prefix: str = "m-",
    seed: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
    in_turn: bool = False,
) -> LoadResult:
    """A `delivery_timeout_s` longer than a broker outage gets every event acknowledged after it: a timed-out
    event's outcome is unknown (it may be in the log), so a drill restarting Kafka lets none time out.

    `in_turn`: each event's movie is the next one in turn from the first, not a popularity draw, so as many
    events as movies view every movie once (a catalogue loaded into the job's state)."""
    if rate is not None and seconds is not None:
        total = round(rate * seconds)
    elif events is not None and rate is None:
        total = events
    else:
        raise ValueError("give either events, or rate and seconds")
    loop = _Loop(
        settings,
        topic or settings.views_topic,
        movie_ids(movies, movie_prefix),
        zipf,
        v2_share,
        seed,
        delivery_timeout_s,
        in_turn,
    )
    return loop.run(total, rate, on_progress)


class _Stream:
    """What stays fixed for one writer version: schema, headers and the pre-encoded parts."""

    def __init__(
        self, publisher: Publisher, catalog: Catalog, version: int, ids: list[str], rng: random.Random
    ):
        entry = catalog.version(VIEWED, version)
        self.template = ViewTemplate(catalog, version)
        self.entry = entry
        self.headers = publisher.headers(entry)
        self.movie_parts = [self.template.movie_part(movie_id) for movie_id in ids]
        self.tails = [
            self.template.tail(rng.choice(DEVICES), rng.choice(COUNTRIES), rng.randint(30, 3 * 3600))
            for _ in range(TAIL_VARIANTS)
        ]


class _Loop:
    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        ids: list[str],
        zipf: float,
        v2_share: float,
        seed: int | None,
        delivery_timeout_s: float,
        in_turn: bool,
    ) -> None:
        catalog = Catalog.bundled()
        self.flush_timeout_s = delivery_timeout_s + FLUSH_MARGIN_S
        self.publisher = Publisher(
            settings.kafka_api,
            topic,
            settings.movies_topic,
            settings.schemas_topic,
            catalog=catalog,
            config={"on_delivery": self._on_failure, "message.timeout.ms": int(delivery_timeout_s * 1000)},
            **LOAD_PRODUCER_CONFIG,
        )
        # Seeded: the popularity draw repeats. Event ids come from os.urandom: they never repeat across runs.
        self.rng = random.Random(seed)
        self.topic = topic
        self.ids = ids
        self.keys = [movie_id.encode() for movie_id in ids]
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.bits = table_bits(len(ids))
        self.movie_table = zipf_table(len(ids), zipf, self.bits)
        self.in_turn = in_turn
        self.turn = 0
        self.v2_threshold = round(v2_share * 65536)
        self.v1, self.v2 = (_Stream(self.publisher, catalog, v, ids, self.rng) for v in (1, 2))
        users = [self.v1.template.user_part(f"u-{n:05d}") for n in range(USERS)]
        anonymous = round(ANONYMOUS_SHARE * 65536)
        self.user_table = [self.v1.template.user_part(None)] * anonymous + [
            users[slot % USERS] for slot in range(65536 - anonymous)
        ]
        self.sent = [0] * len(ids)
        self.failed = [0] * len(ids)
        self.sent_v2 = 0

    def run(
        self, total: int, rate: float | None, on_progress: Callable[[Progress], None] | None
    ) -> LoadResult:
        for stream in (self.v1, self.v2) if self.v2_threshold else (self.v1,):
            self.publisher.ensure_registered(stream.entry)
        started = time.perf_counter()
        done, last_report = 0, started
        while done < total:
            if rate is None:
                n = min(BATCH, total - done)
            else:
                n = min(BATCH, total - done, int(rate * (time.perf_counter() - started)) + 1 - done)
                if n <= 0:
                    time.sleep(TICK_S)
                    continue
            self._batch(n)
            done += n
            now = time.perf_counter()
            if on_progress is not None and now - last_report >= PROGRESS_EVERY_S:
                on_progress(self._progress(done, total, now - started))
                last_report = now
        remaining = self.publisher.flush(self.flush_timeout_s)
        if remaining:
            raise PublishError(
                f"{remaining} events still unresolved after {self.flush_timeout_s}s: no ground truth"
            )
        elapsed = time.perf_counter() - started
        if on_progress is not None:
            on_progress(self._progress(done, total, elapsed, final=True))
        per_movie = {m: s - f for m, s, f in zip(self.ids, self.sent, self.failed, strict=True) if s - f}
        failed = sum(self.failed)
        return LoadResult(self.topic, done, done - failed, failed, elapsed, per_movie, self.sent_v2)

    def _batch(self, n: int) -> None:
        rng, sent, keys, topic = self.rng, self.sent, self.keys, self.topic
        produce = self.publisher.producer.produce
        movie_table, user_table = self.movie_table, self.user_table
        shift = 32 - self.bits
        if self.in_turn:
            movies = [(self.turn + i) % len(keys) for i in range(n)]
            self.turn += n
        else:
            movies = [movie_table[x >> shift] for x in array("I", rng.randbytes(4 * n))]
        users = [user_table[x] for x in array("H", rng.randbytes(2 * n))]
        if self.v2_threshold:
            streams = [
                self.v2 if x < self.v2_threshold else self.v1 for x in array("H", rng.randbytes(2 * n))
            ]
        else:
            streams = [self.v1] * n
        # One timestamp per batch: a batch takes a few milliseconds.
        stamp = avro_long(int(time.time() * 1000))
        v2 = self.v2
        for movie, user, event_id, stream in zip(movies, users, uuid4_strings(n), streams, strict=True):
            tail = v2.tails[movie % TAIL_VARIANTS] if stream is v2 else b""
            value = stream.template.prefix + event_id + stream.movie_parts[movie] + user + stamp + tail
            try:
                produce(topic, value, keys[movie], headers=stream.headers)
            except BufferError:
                self.publisher.poll(QUEUE_FULL_WAIT_S)  # the local queue is full: let the network catch up
                self.publisher.produce(topic, keys[movie], value, stream.headers, None)
            sent[movie] += 1
        self.sent_v2 += streams.count(v2) if self.v2_threshold else 0
        self.publisher.poll(0)

    def _on_failure(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed[self.index[msg.key()]] += 1

    def _progress(self, done: int, total: int, elapsed: float, final: bool = False) -> Progress:
        failed = sum(self.failed)
        return Progress(done, done - len(self.publisher) - failed, failed, total, elapsed, final)
