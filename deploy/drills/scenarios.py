"""The drills: each breaks one thing under load and checks the counts against ground truth, per movie."""

from __future__ import annotations

import dataclasses
import functools
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from confluent_kafka import Producer

from deploy import supervisor, system
from deploy.drills import observed, steps
from deploy.drills.steps import MOVIES, SECONDS, DrillReport
from deploy.errors import DrillError
from deploy.flink import jobs, standalone
from deploy.kafka import broker
from deploy.postgres import server as postgres
from deploy.rebuild import LiveJob, rebuild
from deploy.sandbox import Background, Sandbox, read_while
from deploy.settings import Settings
from deploy.testing import read_from_start
from deploy.wait import wait_until
from ground.kafka import client_config
from ingest.events import MovieRegistered, MovieViewed
from ingest.loadgen import LoadResult, generate
from ingest.publisher import Publisher
from readmodel.client import GraphQLClient
from readmodel.errors import BrokerUnavailableError, DatabaseUnavailableError
from schemas import fields
from schemas.catalog import Catalog
from schemas.codec import encode
from stream import flinkrest
from stream.errors import FlinkRestError
from stream.taskmanager.deadletters import DeadLetter

# How long Kafka or Postgres stays down: past the API's timeouts, within the job's restart budget.
OUTAGE_S = 8
# Hand-published drill events are a few thousand small messages: acknowledged within seconds when healthy.
FLUSH_TIMEOUT_S = 60
V3_PREVIEW = Path(__file__).with_name("MovieViewed.v3-preview.avsc")


def taskmanager_kill(base: Settings) -> DrillReport:
    started = time.monotonic()
    with Sandbox(base, "taskmanager-kill") as env:
        env.submit()
        load = steps.load(env)
        # A kill before the first checkpoint leaves nothing to restore from (seen at load 8: "No checkpoint
        # found during restore", so the drill waited for a restore that could not come).
        wait_until(lambda: steps.has_checkpoint(env), 60, "a first retained checkpoint")
        if base.prometheus:
            job_id = str(env.job_id)
            wait_until(lambda: observed.checkpoint_recorded(base, job_id), 60, "a checkpoint in Prometheus")
        time.sleep(random.uniform(0, SECONDS - 8))  # the random moment of the crash, not synchronisation
        steps.kill9(env, standalone.TASKMANAGER)
        killed_at, killed_ms = time.monotonic(), time.time() * 1000
        # The supervisor starts a new TaskManager; the job restores from its checkpoint onto it.
        wait_until(lambda: _restored_since(env, killed_ms), 180, "the job restored from a checkpoint")
        wait_until(lambda: steps.tasks_running(env), 60, "every task running again")
        recover_s = time.monotonic() - killed_at
        result: LoadResult = load.result()
        if base.prometheus:
            since = time.monotonic() - killed_at
            seen_ok, seen = observed.restarts_moved_and_checkpoints_resumed(base, str(env.job_id), since)
        else:
            seen_ok, seen = observed.restarts_moved_and_checkpoints_resumed_in_flink(base, str(env.job_id))
        report = steps.finish(env, "taskmanager-kill", started, result.per_movie, recover_s, [seen])
        return dataclasses.replace(report, passed=report.passed and seen_ok)


def _restored_since(env: Sandbox, epoch_ms: float) -> bool:
    try:
        return flinkrest.restored_since(env.settings, str(env.job_id), epoch_ms)
    except FlinkRestError:  # a JobManager busy restarting the job answers late: ask again
        return False


def jobmanager_kill(base: Settings) -> DrillReport:
    started = time.monotonic()
    with Sandbox(base, "jobmanager-kill") as env:
        env.submit()
        load = steps.load(env)
        wait_until(lambda: steps.has_checkpoint(env), 60, "a first retained checkpoint")
        main_job_was_running = system.job_running(base) is not None
        time.sleep(random.uniform(2, 8))  # the random moment of the crash
        steps.kill9(env, standalone.JOBMANAGER)
        killed_at = time.monotonic()
        # The supervisor starts a new JobManager (retrying while the killed one's ports are still held).
        wait_until(
            lambda: flinkrest.healthy(env.settings)[0], 180, "the restarted JobManager with a TaskManager"
        )
        # No HA service on one machine: the new JobManager does not know the job; it is resubmitted from its
        # newest retained checkpoint, which holds both the per-movie state and the Kafka offsets.
        restore = env.latest_checkpoint()
        env.submit(restore_from=restore)
        recover_s = time.monotonic() - killed_at
        notes = [f"restored {restore}"]
        if main_job_was_running:
            # The crash took the stack's own job with it; bring it back the way `up` would.
            notes.append(f"main job resumed as {system.start_job(base, env.paths, lambda line: None)}")
        result: LoadResult = load.result()
        return steps.finish(env, "jobmanager-kill", started, result.per_movie, recover_s, notes)


def _rescale(base: Settings, name: str) -> DrillReport:
    """Stops the job with a savepoint mid-stream and resumes it at another parallelism: 1 -> 2, or from the
    profile's parallelism (2 on the cluster) down to 1."""
    started = time.monotonic()
    with Sandbox(base, name) as env:
        before = base.job_parallelism
        after = 2 if before == 1 else 1
        job_id = env.submit(parallelism=before)
        load = steps.load(env)
        time.sleep(SECONDS / 2)  # stop mid-stream: half the load is in the job, half still coming
        stopped_at = time.monotonic()
        notes: list[str] = []  # a stop retried while the job (re)starts says so here
        savepoint = jobs.stop_with_savepoint(env.settings, job_id, f"job {job_id}", notes.append)
        env.submit(parallelism=after, restore_from=savepoint)
        recover_s = time.monotonic() - stopped_at
        result: LoadResult = load.result()
        notes.append(f"parallelism {before} -> {after} from {savepoint}")
        return steps.finish(env, name, started, result.per_movie, recover_s, notes)


def savepoint_upgrade(base: Settings) -> DrillReport:
    return _rescale(base, "savepoint-upgrade")


def rescale(base: Settings) -> DrillReport:
    return _rescale(base, "rescale")


def schema_evolution(base: Settings) -> DrillReport:
    started = time.monotonic()
    with Sandbox(base, "schema-evolution") as env:
        env.submit()
        # Job first: the job already reads v2; v1 and v2 producers run at once.
        v1 = steps.load(env, seed=1, v2_share=0.0)
        v2 = steps.load(env, seed=2, v2_share=1.0)
        truth: Counter[str] = Counter()
        for load in (v1, v2):
            truth.update(load.result().per_movie)
        # Producer first: a writer schema the job has never seen, found in the shared schema topic.
        preview = _publish_v3_preview(env, events=2_000)
        truth.update(preview)
        report = steps.finish(
            env,
            "schema-evolution",
            started,
            dict(truth),
            None,
            ["v1+v2 concurrently (job first)", f"{sum(preview.values())} v3-preview events (producer first)"],
        )
        if not _watch_seconds_reached_read_model(env):
            report.passed = False
            report.notes.append("v2 watch_seconds did not reach the read model")
        return report


def _flushed(pub: Publisher) -> None:
    if (left := pub.flush(FLUSH_TIMEOUT_S)) != 0:
        raise DrillError(f"{left} events still unacknowledged after {FLUSH_TIMEOUT_S} s")


def _publish_v3_preview(env: Sandbox, events: int) -> dict[str, int]:
    catalog = Catalog.bundled()
    catalog.add(V3_PREVIEW.read_text(), version=3)
    sent: Counter[str] = Counter()
    rng = random.Random(3)
    s = env.settings
    with Publisher(s.kafka_api, s.views_topic, s.movies_topic, s.schemas_topic, catalog=catalog) as pub:
        for _ in range(events):
            movie = f"m-{rng.randint(1, MOVIES):04d}"
            pub.publish(MovieViewed.new(movie, watch_seconds=60))
            sent[movie] += 1
        _flushed(pub)
    return dict(sent)


def _watch_seconds_reached_read_model(env: Sandbox) -> bool:
    with psycopg.connect(env.settings.reader_dsn) as conn:
        row = conn.execute("SELECT coalesce(sum(watch_seconds), 0) FROM movie_stats").fetchone()
    return bool(row and row[0] > 0)


def poison_pills(base: Settings) -> DrillReport:
    """Among good views: records that are no Avro event (random bytes, cut short, an unknown writer) and
    Avro-valid ones whose values a stage after the decoding would refuse (`_later_stage_pills`). Every pill
    is dead-lettered, every good view counted exactly, and the job never restarts."""
    started = time.monotonic()
    rng = random.Random(11)
    with Sandbox(base, "poison-pills") as env:
        env.submit()
        # Restarts before every task runs are Flink's (no free slot yet), not a record's.
        wait_until(lambda: steps.tasks_running(env), 120, "every task of the job running")
        restarts_before = env.restarts()
        s = env.settings
        truth: Counter[str] = Counter()
        injected: Counter[str] = Counter()
        catalog = Catalog.bundled()
        later = _later_stage_pills(catalog)
        spacing = 3_000 // len(later)
        with Publisher(s.kafka_api, s.views_topic, s.movies_topic, s.schemas_topic) as pub:
            for i in range(3_000):
                movie = f"m-{rng.randint(1, 200):03d}"
                pub.publish(MovieViewed.new(movie))
                truth[movie] += 1
                if i % 30 == 0:
                    # A fresh event under each pill: copies of one event would share its event_id, and the job
                    # keeps only the first record of an id (stream/DEDUP.md).
                    valid = encode(catalog, MovieViewed.SUBJECT, MovieViewed.new("m-x").to_record())
                    kind, value = _poison(rng, valid)
                    pub.produce(s.views_topic, movie.encode(), value, [], None)
                    injected[kind] += 1
                if i % spacing == spacing // 2:
                    pill = later[i // spacing]
                    topic = s.views_topic if pill.subject == MovieViewed.SUBJECT else s.movies_topic
                    pub.produce(topic, pill.movie_id.encode(), pill.payload, [], None)
            _flushed(pub)
        report = steps.finish(env, "poison-pills", started, dict(truth), None, [])
        letters = _read_dead_letters(env, sum(injected.values()) + len(later))
        reasons = Counter(letter.reason for letter in letters)
        caught = {pill.name: _letter_of(pill, letters) for pill in later}
        restarts = env.restarts() - restarts_before
        report.notes.append(f"injected {dict(injected)}; dead-lettered {dict(reasons)}")
        report.notes.append(
            "later-stage pills: "
            + ", ".join(
                f"{name} -> {letter.reason if letter else 'NOT dead-lettered'}"
                for name, letter in caught.items()
            )
        )
        report.notes.append(f"{restarts} job restart(s) while records flowed")
        if len(letters) != sum(injected.values()) + len(later) or None in caught.values() or restarts:
            report.passed = False
        return report


@dataclass(frozen=True)
class _Pill:
    name: str
    subject: str
    movie_id: str
    payload: bytes


# Past Postgres' timestamptz range (294276 AD), inside an Avro long and Java's long millis: year ~318,857.
BEYOND_POSTGRES_MS = 10**16


def _later_stage_pills(catalog: Catalog) -> list[_Pill]:
    """Avro-valid records an outside producer can write (the ingest publisher refuses them), with values a
    stage after the Avro decoding would refuse: Postgres stores no NUL in text nor a timestamp past its range,
    and an id must stay within `schemas.fields`. Each on a movie of its own, each a fresh event
    (stream/DEDUP.md)."""
    now_ms = int(time.time() * 1000)

    def view(name: str, movie_id: str, occurred_ms: int = now_ms) -> _Pill:
        record = {
            "event_id": str(uuid.uuid4()),
            "movie_id": movie_id,
            "user_id": None,
            "occurred_at": occurred_ms,
        }
        return _Pill(
            name, MovieViewed.SUBJECT, movie_id, encode(catalog, MovieViewed.SUBJECT, record, version=1)
        )

    registration = {
        "event_id": str(uuid.uuid4()),
        "movie_id": "pill-title",
        "title": "Al\x00ien",
        "year": 1979,
        "genre": "sci-fi",
        "occurred_at": now_ms,
    }
    return [
        view("nul-in-movie-id", "pill-\x00-nul"),
        view("control-and-bidi-in-movie-id", "pill-\x07-\u202e-bidi"),
        view("movie-id-one-past-its-bound", "p" * (fields.ID_MAX_CHARS + 1)),
        view("occurred-at-past-postgres", "pill-far-future", BEYOND_POSTGRES_MS),
        _Pill(
            "nul-in-title",
            MovieRegistered.SUBJECT,
            "pill-title",
            encode(catalog, MovieRegistered.SUBJECT, registration),
        ),
    ]


def _letter_of(pill: _Pill, letters: list[DeadLetter]) -> DeadLetter | None:
    """The dead letter of `pill`: its own bytes parked by the decoder, or a refused row of its movie from a
    later stage (whose payload is that row's columns as JSON, stream/jvm DeadLetterProducer)."""
    for letter in letters:
        if letter.payload == pill.payload:
            return letter
        if letter.offset < 0 and pill.movie_id in _columns(letter):
            return letter
    return None


def _columns(letter: DeadLetter) -> list[object]:
    try:
        row = json.loads(letter.payload)
    except ValueError:
        return []
    return row if isinstance(row, list) else []


def _poison(rng: random.Random, valid: bytes) -> tuple[str, bytes]:
    """Random bytes, a valid event cut short, or a valid body under a fingerprint no catalog knows."""
    choice = rng.randrange(3)
    if choice == 0:
        return "random-bytes", rng.randbytes(rng.randint(1, 64))
    if choice == 1:
        return "truncated", valid[: rng.randint(11, len(valid) - 1)]
    return "unknown-schema", b"\xc3\x01" + rng.randbytes(8) + valid[10:]


def _read_dead_letters(env: Sandbox, expected: int) -> list[DeadLetter]:
    found = read_from_start(env.settings.kafka_admin, env.settings.dlq_topic, expected, 120)
    return [DeadLetter.from_json(message.value() or b"") for message in found]


def _outage(
    base: Settings,
    name: str,
    stop: Callable[[Sandbox], object],
    start: Callable[[Sandbox], object],
    mutation: bool,
) -> DrillReport:
    """Takes a service down mid-stream, checks the API says so (on a read, or on `recordView` when the
    service is Kafka), brings it back, and checks the API and the counts recover without anyone's help."""
    started = time.monotonic()
    with Sandbox(base, name) as env:
        env.submit()
        api = env.start_api()
        load = steps.load(env, seconds=SECONDS + OUTAGE_S)
        time.sleep(SECONDS / 3)  # mid-stream, not synchronisation
        stop(env)
        error = steps.api_error(api, env.api_key, mutation)
        time.sleep(OUTAGE_S)  # the outage itself
        start(env)
        back_at = time.monotonic()
        recovered = steps.api_recovers(api, env.api_key, mutation)
        recover_s = time.monotonic() - back_at
        result: LoadResult = load.result()
        report = steps.finish(env, name, started, result.per_movie, recover_s, [])
        call = "recordView" if mutation else "topMovies"
        # The API names the service that is down by its error code: a read needs Postgres, a view Kafka.
        expected = BrokerUnavailableError.code if mutation else DatabaseUnavailableError.code
        outage = f"{error[0]}: {error[1]}" if error else "no error"
        report.notes += [
            f"{call} during the outage: {outage} (expected {expected})",
            f"{call} recovered by itself: {recovered}",
        ]
        report.passed = report.passed and recovered and error is not None and error[0] == expected
        return report


def postgres_restart(base: Settings) -> DrillReport:
    return _outage(
        base,
        "postgres-restart",
        lambda env: supervisor.stop(env.paths, postgres.COMPONENT),
        lambda env: supervisor.start(env.paths, postgres.COMPONENT),
        mutation=False,
    )


def kafka_restart(base: Settings) -> DrillReport:
    def start(env: Sandbox) -> None:
        supervisor.start(env.paths, broker.COMPONENT)
        wait_until(lambda: broker.healthy(env.settings)[0], 120, "Kafka back")

    return _outage(
        base, "kafka-restart", lambda env: supervisor.stop(env.paths, broker.COMPONENT), start, mutation=True
    )


def duplicate_delivery(base: Settings) -> DrillReport:
    """Every acknowledged event published a second time by another producer, and client retries of
    recordView with one eventId (GraphQL argument, REST Idempotency-Key): each distinct event counts once."""
    started = time.monotonic()
    with Sandbox(base, "duplicate-delivery") as env:
        env.submit()
        api = env.start_api()
        result: LoadResult = steps.load(env, seconds=SECONDS / 2).result()
        truth = Counter(result.per_movie)
        records = _read_all(env, env.settings.views_topic, result.acknowledged)
        resent = _republish(env, records)
        retried = _client_retries(api, env.api_key, truth, rounds=50, attempts=3)
        notes = [f"{resent} acknowledged events published again; {retried} recordView retries"]
        return steps.finish(env, "duplicate-delivery", started, dict(truth), None, notes)


def _read_all(env: Sandbox, topic: str, expected: int) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of the first `expected` records of `topic` (at least), as acknowledged."""
    found = read_from_start(env.settings.kafka_admin, topic, expected, 120)
    return [(message.key(), message.value() or b"") for message in found]


def _republish(env: Sandbox, records: list[tuple[bytes | None, bytes]]) -> int:
    """A second producer (not the idempotent one of the load): the same bytes, the same keys, again."""
    producer = Producer(client_config(env.settings.kafka_api, **{"linger.ms": 20}))
    for key, value in records:
        while True:
            try:
                producer.produce(env.settings.views_topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0, "republished events unacknowledged"
    return len(records)


def _client_retries(api: str, key: str, truth: Counter[str], rounds: int, attempts: int) -> int:
    """`rounds` views, each sent `attempts` times with one client id, alternately over GraphQL and REST;
    every answer must carry that id. Adds one view per round to `truth`."""
    sent = 0
    auth = {"Authorization": f"Bearer {key}"}
    with GraphQLClient(api, key) as client, httpx.Client(base_url=api, timeout=10, headers=auth) as http:
        for i in range(rounds):
            movie, event_id = f"m-retry-{i % 5}", str(uuid.uuid4())
            for _ in range(attempts):
                if i % 2:
                    answer = client.record_view(movie, event_id)
                else:
                    response = http.post(f"/api/view/{movie}", headers={"Idempotency-Key": event_id})
                    response.raise_for_status()
                    answer = response.json()["eventId"]
                assert answer == event_id, f"a retry answered {answer}, not {event_id}"
                sent += 1
            truth[movie] += 1
    return sent


# The rebuild's load: steady while the second job reads the log and through the switch, in short rounds so it
# stops soon after the switch; low enough that both jobs keep up on a loaded machine (at load average 67, two
# jobs on one TaskManager fell behind 500 events/s by 170k events in 10 minutes).
REBUILD_RATE = 100
REBUILD_ROUND_S = 3
# The log before the rebuild starts: 2 s of the drills' rate, 6,000 events.
REBUILD_LOG_S = 2
# From offset zero to caught up, on a loaded machine.
REBUILD_TIMEOUT_S = 600


def rebuild_under_load(base: Settings) -> DrillReport:
    """`movieviews rebuild` under load: a second job builds slot 2 from offset zero, is proved equal and takes
    over; a GraphQL reader polling throughout sees no error and no count go down; the counts end exact."""
    started = time.monotonic()
    with Sandbox(base, "rebuild") as env:
        env.submit()
        api = env.start_api()
        truth: Counter[str] = Counter(steps.load(env, seconds=REBUILD_LOG_S).result().per_movie)
        done = threading.Event()
        load = Background(lambda: _rounds(env, done))
        reader = Background(lambda: read_while(api, env.api_key, done))
        try:
            live = LiveJob(env.name, env.name)
            say = functools.partial(print, flush=True)
            switched = rebuild(env.settings, env.paths, live, say, REBUILD_TIMEOUT_S, False)
            env.job_id = switched.job_id
        finally:
            done.set()
        truth.update(load.result())
        requests, errors, decreases = reader.result()
        notes = [
            f"switched to slot {switched.slot} ({switched.comparison.summary()}); updates paused "
            f"{switched.paused_s:.1f}s; reader: {requests} requests, {errors} failed, {decreases} decreases"
        ]
        report = steps.finish(env, "rebuild", started, dict(truth), switched.paused_s, notes)
        report.passed = report.passed and errors == 0 and decreases == 0 and requests > 0
        return report


def _rounds(env: Sandbox, done: threading.Event) -> Counter[str]:
    sent: Counter[str] = Counter()
    while not done.is_set():
        result = generate(env.settings, rate=REBUILD_RATE, seconds=REBUILD_ROUND_S, movies=MOVIES)
        if result.failed:
            raise DrillError(f"{result.failed} events unacknowledged: no ground truth")
        sent.update(result.per_movie)
    return sent


DRILLS: dict[str, steps.Drill] = {
    "taskmanager-kill": taskmanager_kill,
    "jobmanager-kill": jobmanager_kill,
    "savepoint-upgrade": savepoint_upgrade,
    "schema-evolution": schema_evolution,
    "poison-pills": poison_pills,
    "postgres-restart": postgres_restart,
    "kafka-restart": kafka_restart,
    "duplicate-delivery": duplicate_delivery,
    "rebuild": rebuild_under_load,
}
