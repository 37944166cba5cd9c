"""A team's deployment with managed services off (MOVIEVIEWS_MANAGED=off): a second state dir with its own
database, topics, job name and API port, driven through the `movieviews` command against services it did not
start. The managed-off tests on the single stack and on the cluster profile's secured services share it."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg import sql

from deploy import procs
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
# Lines a managed `up` says as it starts the services' processes.
PROCESS_STARTS = ("supervisor started", "postgres ready", "kafka ready", "flink ready", "prometheus ready")
# From the last recordView to the count in GraphQL: a second when warm; a cold job's first checkpoint and a
# loaded machine take longer.
VISIBLE_TIMEOUT_S = 120


@dataclass(frozen=True)
class Deployment:
    """A team's deployment: its own state dir, database, topics, job name and API port; the services (and
    what the team gave to reach them) come from `services_env`."""

    settings: Settings
    env: dict[str, str]

    @classmethod
    def on(cls, services_env: Mapping[str, str], home: str) -> Deployment:
        suffix = uuid.uuid4().hex[:8]
        env = {
            **services_env,
            "MOVIEVIEWS_HOME": home,
            "MOVIEVIEWS_MANAGED": "off",
            "MOVIEVIEWS_PG_DATABASE": f"mv_foreign_{suffix}",
            "MOVIEVIEWS_VIEWS_TOPIC": f"foreign-views-{suffix}",
            "MOVIEVIEWS_MOVIES_TOPIC": f"foreign-movies-{suffix}",
            "MOVIEVIEWS_DLQ_TOPIC": f"foreign-dlq-{suffix}",
            "MOVIEVIEWS_SCHEMAS_TOPIC": f"foreign-schemas-{suffix}",
            "MOVIEVIEWS_JOB_NAME": f"foreign-{suffix}",
            "MOVIEVIEWS_API_PORT": str(free_port()),
        }
        return cls(Settings.from_env(env), env)

    @property
    def paths(self) -> StatePaths:
        return StatePaths(self.settings.home)

    def run(self, *argv: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "movieviews"), *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def pid_files(self) -> list[str]:
        return sorted(p.name for p in self.paths.run.glob("*.pid"))


def missing(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The one line per problem a managed-off `up` says."""
    return [line for line in result.stdout.splitlines() if line.startswith("missing: ")]


def processes_started(result: subprocess.CompletedProcess[str]) -> list[str]:
    said = result.stdout.lower()
    return [start for start in PROCESS_STARTS if start in said]


def views_read_back(deployment: Deployment, views: int) -> tuple[int | None, tuple[object, ...] | None]:
    """Registers a movie and records `views` views of it through the deployment's API with the demo's key;
    once GraphQL shows them all, the count in GraphQL and the movie's row in Postgres (read as the API's
    role, as the deployment's settings reach it)."""
    key = deployment.paths.demo_key.read_text().strip()
    with GraphQLClient(deployment.settings.api_url, key) as client:
        movie = client.register_movie("Stalker", 1979, "sci-fi")
        for _ in range(views):
            client.record_view(movie)
        wait_until(
            lambda: client.view_count(movie) == views,
            VISIBLE_TIMEOUT_S,
            f"{views} views of {movie} in GraphQL",
        )
        shown = client.view_count(movie)
    with psycopg.connect(deployment.settings.reader_dsn) as conn:
        row = conn.execute(
            f"SELECT view_count FROM {movie_stats.name} WHERE movie_id = %s", (movie,)
        ).fetchone()
    return shown, row


def services_healthy(services: Settings) -> dict[str, bool]:
    """Kafka, Flink, Postgres (and ZooKeeper in the cluster profile) as the stack that runs them sees them."""
    return {
        h.component: h.ok
        for h in stack_module.status(services)
        if h.component in ("kafka", "flink", "postgres", "zookeeper")
    }


def remove(deployment: Deployment, services: Settings) -> None:
    """What the deployment left on the services, removed as their admin would: its job, API, topics and
    database."""
    settings = deployment.settings
    with contextlib.suppress(Exception):
        for job in flinkrest.alive(services, settings.job_name):
            flinkrest.cancel(services, job.job_id)
    api = procs.read_pid(deployment.paths.pid_file(stack_module.API))
    if api is not None:
        procs.stop(api)
    delete_topics(services.kafka_admin, [spec.name for spec in broker.topics(settings)])
    with psycopg.connect(admin_conninfo(services), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(settings.pg_database))
        )
