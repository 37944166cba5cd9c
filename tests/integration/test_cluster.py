"""The cluster profile's drills: 3 Kafka nodes, ZooKeeper, 2 JobManagers and 2 TaskManagers brought up once,
beside the single stack on ports of their own, each node or manager killed under load, counts exact per movie.

The profile is started here and not by the session's `stack` fixture: it is a second stack (its own state dir,
`MOVIEVIEWS_CLUSTER_*` ports, 8 JVMs), so it runs last (tests/conftest.py) and is stopped, with its data
removed, when the module ends, passed or failed. A cluster stack already running (`up --profile cluster`) is
reused and left as it was.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
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

from deploy import stack as deploy_stack
from deploy import tls
from deploy.drills.registry import CLUSTER_DRILLS
from deploy.kafka import broker, security
from deploy.paths import StatePaths
from deploy.postgres import server as postgres
from deploy.settings import Settings
from ground.kafka import API, CA_FILE, JOB, password_file
from ingest.topics import ensure_topics
from stream import flinkrest

VIEWS = 25


def say(line: str) -> None:
    print(f"[cluster] {line}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Settings]:
    settings = Settings.from_env(os.environ, profile="cluster")
    paths = StatePaths(settings.home)
    already_running = deploy_stack.any_running(settings, paths)
    try:
        deploy_stack.up(settings, paths, say)
        yield settings
    finally:
        if not already_running and os.environ.get("MOVIEVIEWS_KEEP_STACK") != "1":
            deploy_stack.down(settings, paths, say)
            for removed in deploy_stack.remove_data(settings, paths):
                say(f"removed {removed}")


def test_cluster_postgres_refuses_plaintext_and_a_server_certificate_from_another_ca(
    cluster: Settings, tmp_path: Path
) -> None:
    """pg_hba takes hostssl only, so the drills' exact counts (the job's JDBC sink, the API's pool, the
    CLI) are themselves the proof that every client connects over TLS; here the refusals."""
    with psycopg.connect(cluster.owner_dsn) as conn:
        row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None and row[0] is True and row[1] in ("TLSv1.2", "TLSv1.3")
    plain = postgres.admin_conninfo(cluster).split(" sslmode=")[0] + " sslmode=disable"
    with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects connection.*no encryption"):
        psycopg.connect(plain)
    stranger = tls.ca_certificate(tmp_path / "other-ca")
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(
            f"{plain.removesuffix(' sslmode=disable')} sslmode=verify-full sslrootcert={stranger}"
        )
    assert tls.names_host(cluster.pg_secrets_dir / "postgres.pem", cluster.pg_host)
    assert {p.name: p.stat().st_mode & 0o777 for p in cluster.pg_secrets_dir.iterdir()} == {
        name: 0o600 for name in ("ca.key", "ca.pem", "ca.srl", "postgres.key", "postgres.pem")
    }


def given_by_the_team(cluster: Settings, folder: Path) -> dict[str, str]:
    """What a team hands a deployment of its services, and nothing more: the endpoints; the API's and the
    job's Kafka passwords with the brokers' CA; the three Postgres roles' passwords with the server's CA;
    the JobManager's REST URL. Neither Kafka's admin principal nor Postgres' superuser (its password is one
    that opens nothing)."""
    kafka, pg = folder / "kafka", folder / "postgres"
    for secrets in (kafka, pg):
        secrets.mkdir(mode=0o700, parents=True)
    for user in (API, JOB):
        shutil.copy(password_file(cluster.kafka_secrets_dir, user), password_file(kafka, user))
    shutil.copy(cluster.kafka_secrets_dir / CA_FILE, kafka / CA_FILE)
    shutil.copy(cluster.pg_ca_file, pg / "ca.pem")
    # With mutual TLS on the REST API, the identity its clients present.
    rest_identity = (
        {"MOVIEVIEWS_FLINK_SECRETS": str(cluster.flink_secrets_dir)} if cluster.flink_rest_identity else {}
    )
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("MOVIEVIEWS_")},
        "MOVIEVIEWS_KAFKA_BOOTSTRAP": cluster.kafka_bootstrap,
        "MOVIEVIEWS_KAFKA_SECURITY": "on",
        "MOVIEVIEWS_KAFKA_SECRETS": str(kafka),
        "MOVIEVIEWS_PG_HOST": cluster.pg_host,
        "MOVIEVIEWS_PG_PORT": str(cluster.pg_port),
        "MOVIEVIEWS_PG_TLS": "on",
        "MOVIEVIEWS_PG_SECRETS": str(pg),
        "MOVIEVIEWS_PG_OWNER_PASSWORD": cluster.pg_owner_password,
        "MOVIEVIEWS_PG_WRITER_PASSWORD": cluster.pg_writer_password,
        "MOVIEVIEWS_PG_READER_PASSWORD": cluster.pg_reader_password,
        "MOVIEVIEWS_PG_ADMIN_PASSWORD": "not-given-to-the-team",
        "MOVIEVIEWS_FLINK_REST": cluster.flink_rest,
        **rest_identity,
    }


def as_the_teams_admin(cluster: Settings, deployment: Deployment) -> Settings:
    """The deployment's topics and job, reached with the cluster's admin principal: how the team grants."""
    return dataclasses.replace(deployment.settings, kafka_secrets=str(cluster.kafka_secrets_dir))


@pytest.fixture
def team_deployment(cluster: Settings, tmp_path: Path) -> Iterator[Deployment]:
    """The team's admins made the deployment's topics and its database (owned by mv_owner), and granted the
    project's principals nothing on them yet."""
    deployment = Deployment.on(given_by_the_team(cluster, tmp_path / "given"), str(tmp_path / "home"))
    ensure_topics(cluster.kafka_admin, broker.topics(deployment.settings))
    with psycopg.connect(postgres.admin_conninfo(cluster), autocommit=True) as conn:
        database = sql.Identifier(deployment.settings.pg_database)
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER mv_owner").format(database))
    try:
        yield deployment
    finally:
        try:
            remove(deployment, cluster)
        finally:
            security.revoke(as_the_teams_admin(cluster, deployment), deployment.settings.job_name)


def test_with_managed_services_off_a_second_home_on_the_secured_cluster_names_each_grant_and_counts_exactly(
    cluster: Settings, team_deployment: Deployment
) -> None:
    """The API's and the job's principals, the roles over verify-full and the REST URL are enough: `up` says
    each grant the principals lack, one line each, and starts nothing; granted, the job runs on the
    cluster's JobManagers over SASL_SSL and TLS to Postgres, and counts exactly."""
    deployment, settings = team_deployment, team_deployment.settings

    refused = deployment.run("up", timeout_s=UP_TIMEOUT_S)
    assert refused.returncode == 1, refused.stdout + refused.stderr

    def lacks(user: str, operation: str, topic: str) -> str:
        return (
            f"missing: kafka: {user} may not {operation.lower()} topic {topic}: kafka-acls.sh "
            f"--bootstrap-server {cluster.kafka_bootstrap} --add --allow-principal User:{user} "
            f"--operation {operation} --topic {topic}"
        )

    events = (settings.views_topic, settings.movies_topic, settings.schemas_topic)
    assert missing(refused) == [
        *(lacks(API, "Write", topic) for topic in events),
        *(lacks(JOB, "Read", topic) for topic in events),
        lacks(JOB, "Write", settings.dlq_topic),
    ]
    assert "7 problem(s)" in refused.stderr
    assert (processes_started(refused), deployment.pid_files()) == ([], [])

    security.grant(as_the_teams_admin(cluster, deployment), group_prefix=settings.job_name)
    up = deployment.run("up", timeout_s=UP_TIMEOUT_S)
    assert up.returncode == 0, up.stdout + up.stderr
    assert processes_started(up) == [], up.stdout
    assert f"database {settings.pg_database} migrated to head" in up.stdout
    assert deployment.pid_files() == ["api.pid"]
    [job] = flinkrest.alive(cluster, settings.job_name)

    demo = deployment.run("demo", "--rounds", "1", "--views", "10")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert views_read_back(deployment, VIEWS) == (VIEWS, (VIEWS,))

    down = deployment.run("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Kafka, Flink and Postgres are not ours to stop" in down.stdout
    assert flinkrest.job_state(cluster, job.job_id) in flinkrest.ENDED
    assert deployment.pid_files() == []
    assert services_healthy(cluster) == dict.fromkeys(("kafka", "flink", "postgres", "zookeeper"), True)


@pytest.mark.parametrize("name", list(CLUSTER_DRILLS))
def test_cluster_drill_keeps_counts_exact(cluster: Settings, name: str) -> None:
    report = CLUSTER_DRILLS[name](cluster)
    assert (report.lost, report.double_counted) == (0, 0), report
    # The notes say which check failed: the report's repr is cut short in the failure message.
    assert report.passed, "\n".join(report.notes)
