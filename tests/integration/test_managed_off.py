"""MOVIEVIEWS_MANAGED=off: a second state dir runs the system on services it did not start (the session's
stack, seen as a team's own Kafka, Flink and Postgres), and starts or stops none of their processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from deploy import procs, supervisor
from deploy import stack as stack_module
from deploy.kafka import broker
from deploy.paths import VENV_BIN, StatePaths
from deploy.postgres.server import admin_conninfo
from deploy.sandbox import free_port
from deploy.settings import Settings
from deploy.wait import wait_until
from ingest.topics import delete_topics
from readmodel.client import GraphQLClient
from readmodel.tables import movie_stats
from stream import flinkrest

# `up` with a cold state dir fetches the connector jars into it (1-2 min here) before it submits the job.
UP_TIMEOUT_S = 900
VIEWS = 25
# Lines a managed `up` says as it starts the services' processes.
PROCESS_STARTS = ("supervisor started", "postgres ready", "kafka ready", "flink ready", "prometheus ready")


@dataclass(frozen=True)
class Deployment:
    """A team's deployment: its own state dir, database, topics, job name and API port, same services."""

    settings: Settings
    env: dict[str, str]

    def run(self, *argv: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "movieviews"), *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )


@pytest.fixture
def deployment(stack: Settings, tmp_path: Path) -> Iterator[Deployment]:
    """The team's DBA made the database for mv_owner and took CONNECT away from everyone else (PUBLIC)."""
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        **stack.to_env(),
        "MOVIEVIEWS_HOME": str(tmp_path / "home"),
        "MOVIEVIEWS_MANAGED": "off",
        "MOVIEVIEWS_PG_DATABASE": f"mv_foreign_{suffix}",
        "MOVIEVIEWS_VIEWS_TOPIC": f"foreign-views-{suffix}",
        "MOVIEVIEWS_MOVIES_TOPIC": f"foreign-movies-{suffix}",
        "MOVIEVIEWS_DLQ_TOPIC": f"foreign-dlq-{suffix}",
        "MOVIEVIEWS_SCHEMAS_TOPIC": f"foreign-schemas-{suffix}",
        "MOVIEVIEWS_JOB_NAME": f"foreign-{suffix}",
        "MOVIEVIEWS_API_PORT": str(free_port()),
    }
    settings = Settings.from_env(env)
    database = sql.Identifier(settings.pg_database)
    with psycopg.connect(admin_conninfo(stack), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER mv_owner").format(database))
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(database))
    try:
        yield Deployment(settings, env)
    finally:
        with contextlib.suppress(Exception):
            for job in flinkrest.alive(stack, settings.job_name):
                flinkrest.cancel(stack, job.job_id)
        api = procs.read_pid(StatePaths(settings.home).pid_file(stack_module.API))
        if api is not None:
            procs.stop(api)
        delete_topics(stack.kafka_admin, [spec.name for spec in broker.topics(settings)])
        with psycopg.connect(admin_conninfo(stack), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))


def test_with_managed_services_off_up_starts_no_service_names_a_missing_grant_and_counts_exactly(
    stack: Settings, deployment: Deployment
) -> None:
    settings, database = deployment.settings, deployment.settings.pg_database

    refused = deployment.run("up", timeout_s=UP_TIMEOUT_S)
    missing = [line for line in refused.stdout.splitlines() if line.startswith("missing: ")]
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert missing == [
        f"missing: postgres: {role} may not connect to {database}: "
        f"GRANT CONNECT ON DATABASE {database} TO {role}"
        for role in ("mv_writer", "mv_reader")
    ]
    assert "2 problem(s)" in refused.stderr

    with psycopg.connect(admin_conninfo(stack), autocommit=True) as conn:
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO mv_writer, mv_reader").format(sql.Identifier(database))
        )
    up = deployment.run("up", timeout_s=UP_TIMEOUT_S)
    assert up.returncode == 0, up.stdout + up.stderr
    said = up.stdout.lower()
    assert not [start for start in PROCESS_STARTS if start in said], up.stdout
    assert f"database {database} migrated to head" in up.stdout
    home = StatePaths(settings.home)
    assert supervisor.pid(home) is None
    # The one process of the project: the API, under the second state dir.
    assert sorted(p.name for p in home.run.glob("*.pid")) == ["api.pid"]
    [job] = flinkrest.alive(stack, settings.job_name)

    demo = deployment.run("demo", "--rounds", "1", "--views", "10")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    key = home.demo_key.read_text().strip()
    with GraphQLClient(settings.api_url, key) as client:
        movie = client.register_movie("Stalker", 1979, "sci-fi")
        for _ in range(VIEWS):
            client.record_view(movie)
        wait_until(lambda: client.view_count(movie) == VIEWS, 120, f"{VIEWS} views of {movie} in GraphQL")
        assert client.view_count(movie) == VIEWS
    with psycopg.connect(settings.reader_dsn) as conn:
        row = conn.execute(
            f"SELECT view_count FROM {movie_stats.name} WHERE movie_id = %s", (movie,)
        ).fetchone()
    assert row == (VIEWS,)

    status = deployment.run("status")
    assert "processes  healthy    managed services off" in status.stdout, status.stdout
    drill = deployment.run("drill", "kafka-restart")
    assert (drill.returncode, drill.stderr.strip()) == (
        2,
        "movieviews drill: drill kafka-restart stops or kills a process of Kafka, Flink or Postgres: it "
        "needs services the project runs (MOVIEVIEWS_MANAGED=on)",
    )

    down = deployment.run("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Kafka, Flink and Postgres are not ours to stop" in down.stdout
    assert flinkrest.job_state(stack, job.job_id) in flinkrest.ENDED
    assert list(home.run.glob("*.pid")) == []
    # The services are as they were: nothing of theirs was stopped.
    services = {
        h.component: h for h in stack_module.status(stack) if h.component in ("kafka", "flink", "postgres")
    }
    assert all(h.ok for h in services.values()), services
