"""One real stack per test session, shared by every integration test.

The stack is started with `movieviews up --stack-only` (idempotent, so a stack already running, e.g. from
`deploy/movieviews up`, is reused) and stopped at the end only if this session started it. Each test gets
its own database and its own topics, so tests never see each other's data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from support.jobs import stop_and_remove

from deploy import stack as deploy_stack
from deploy.flink import jobs
from deploy.paths import StatePaths
from deploy.postgres import server as postgres
from deploy.settings import Settings
from ingest.topics import TopicSpec, delete_topics, ensure_topics
from readmodel.migrate import upgrade


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    settings = Settings.from_env(os.environ)
    paths = StatePaths(settings.home)
    already_running = deploy_stack.any_running(settings, paths)
    deploy_stack.up(settings, paths, lambda line: print(f"[stack] {line}"))
    yield settings
    if not already_running and os.environ.get("MOVIEVIEWS_KEEP_STACK") != "1":
        deploy_stack.down(settings, paths, lambda line: print(f"[stack] {line}"))


@pytest.fixture
def stack(stack_settings: Settings) -> Settings:
    return stack_settings


@pytest.fixture
def fresh_database(stack: Settings) -> Iterator[Settings]:
    """A new database owned by mv_owner with every migration applied; dropped afterwards."""
    with database_of_its_own(stack) as settings:
        yield settings


@pytest.fixture(scope="module")
def module_isolated(stack_settings: Settings) -> Iterator[Settings]:
    """`isolated`, shared by the tests of one module (property tests run many examples on one app)."""
    with database_of_its_own(stack_settings) as settings:
        names = {
            field: f"{field}-{uuid.uuid4().hex[:8]}"
            for field in ("views_topic", "movies_topic", "schemas_topic")
        }
        ensure_topics(settings.kafka_admin, [TopicSpec(name, 1) for name in names.values()])
        yield dataclasses.replace(settings, **names)
        delete_topics(settings.kafka_admin, list(names.values()))


@pytest.fixture
def database_later(stack: Settings) -> Iterator[tuple[Settings, Callable[[], object]]]:
    """Settings naming a database that does not exist yet (a database that cannot be reached), and what
    creates it as `fresh_database` does; dropped afterwards."""
    name = f"mv_test_{uuid.uuid4().hex[:10]}"
    with contextlib.ExitStack() as later:
        yield (
            dataclasses.replace(stack, pg_database=name),
            lambda: later.enter_context(database_of_its_own(stack, name)),
        )


@contextlib.contextmanager
def database_of_its_own(stack: Settings, name: str | None = None) -> Iterator[Settings]:
    name = name or f"mv_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.admin_conninfo(stack), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER mv_owner").format(sql.Identifier(name)))
    settings = dataclasses.replace(stack, pg_database=name)
    upgrade(settings.owner_url)
    yield settings
    with psycopg.connect(postgres.admin_conninfo(stack), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def topic_factory(stack: Settings) -> Iterator[Callable[..., str]]:
    """Makes uniquely named topics; deletes them when the test ends."""
    made: list[str] = []

    def make(prefix: str, partitions: int = 4) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        ensure_topics(stack.kafka_admin, [TopicSpec(name, partitions)])
        made.append(name)
        return name

    yield make
    delete_topics(stack.kafka_admin, made)


@pytest.fixture
def isolated(fresh_database: Settings, topic_factory: Callable[..., str]) -> Settings:
    """Settings whose database and topics belong to this test alone."""
    return dataclasses.replace(
        fresh_database,
        views_topic=topic_factory("views", 4),
        movies_topic=topic_factory("movies", 4),
        dlq_topic=topic_factory("dlq", 1),
        schemas_topic=topic_factory("schemas", 1),
    )


@pytest.fixture
def job_name() -> str:
    """The name (and consumer group) of this test's stream job: what an API started for it probes."""
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def job(isolated: Settings, job_name: str) -> Iterator[str]:
    """The stream job against this test's topics and database; stopped, its state removed, afterwards."""
    job_id = jobs.submit(isolated, jobs.job_config(isolated, name=job_name, group_id=job_name))
    yield job_id
    stop_and_remove(isolated, job_id)


@pytest.fixture
def submitted(isolated: Settings) -> Iterator[list[str]]:
    """The ids of the jobs a test submits: each stopped, its state removed, afterwards."""
    ids: list[str] = []
    yield ids
    for job_id in ids:
        stop_and_remove(isolated, job_id)
