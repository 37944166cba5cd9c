"""MOVIEVIEWS_MANAGED=off: a second state dir runs the system on services it did not start (the session's
stack, seen as a team's own Kafka, Flink and Postgres), and starts or stops none of their processes. The same
on the cluster profile's secured services: tests/integration/test_cluster.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from support.deployment import (
    UP_TIMEOUT_S,
    Deployment,
    missing,
    processes_started,
    remove,
    services_healthy,
    views_read_back,
)

from deploy import supervisor
from deploy.postgres.server import admin_conninfo
from deploy.settings import Settings
from stream import flinkrest

VIEWS = 25


@pytest.fixture
def deployment(stack: Settings, tmp_path: Path) -> Iterator[Deployment]:
    """The team's DBA made the database for mv_owner and took CONNECT away from everyone else (PUBLIC)."""
    deployment = Deployment.on({**os.environ, **stack.to_env()}, str(tmp_path / "home"))
    database = sql.Identifier(deployment.settings.pg_database)
    with psycopg.connect(admin_conninfo(stack), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER mv_owner").format(database))
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(database))
    try:
        yield deployment
    finally:
        remove(deployment, stack)


def test_with_managed_services_off_up_starts_no_service_names_a_missing_grant_and_counts_exactly(
    stack: Settings, deployment: Deployment
) -> None:
    settings, database = deployment.settings, deployment.settings.pg_database

    refused = deployment.run("up", timeout_s=UP_TIMEOUT_S)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert missing(refused) == [
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
    assert processes_started(up) == [], up.stdout
    assert f"database {database} migrated to head" in up.stdout
    assert supervisor.pid(deployment.paths) is None
    # The one process of the project: the API, under the second state dir.
    assert deployment.pid_files() == ["api.pid"]
    [job] = flinkrest.alive(stack, settings.job_name)

    demo = deployment.run("demo", "--rounds", "1", "--views", "10")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert views_read_back(deployment, VIEWS) == (VIEWS, (VIEWS,))

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
    assert deployment.pid_files() == []
    # The services are as they were: nothing of theirs was stopped.
    assert services_healthy(stack) == {"kafka": True, "flink": True, "postgres": True}
