"""Services a team brings (MOVIEVIEWS_MANAGED=off): Kafka, Flink and Postgres at the configured endpoints, run
by someone else.

`up` starts none of them. It checks each endpoint and what the project's roles may do there, and says in one
line per problem what is missing and how to grant it; it creates the topics only where the broker lets it,
and otherwise checks that they exist as declared (`deploy.kafka.broker.topics`). The API is the one process
it runs: `movieviews serve`, detached, its pid under the state dir (the same command a platform's own
Deployment runs), stopped by `down`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import psycopg
from confluent_kafka import KafkaException

from deploy import procs
from deploy.errors import DeployError
from deploy.kafka import broker
from deploy.paths import VENV_BIN, StatePaths
from deploy.postgres.server import ROLES
from deploy.settings import DECLARED, Settings
from deploy.stack import API, Health
from ingest.errors import TopicError, TopicNotAllowedError
from ingest.topics import TopicSpec, config_drift, ensure_topics, topic_configs
from stream import flinkrest

# The team's brokers and database answer across a network: seconds, not the loopback's milliseconds.
CHECK_TIMEOUT_S = 10


class ServicesError(DeployError):
    """The services a team brings lack something the project needs; each problem was said on its line."""


def kafka_healthy(settings: Settings) -> tuple[bool, str]:
    """Healthy once the bootstrap list answers a metadata request (a team's cluster may have more brokers
    than the list names)."""
    try:
        metadata = broker.admin(settings).list_topics(timeout=CHECK_TIMEOUT_S)
    except KafkaException as exc:
        return False, f"metadata request to {settings.kafka_bootstrap} failed: {exc}"
    return (
        True,
        f"metadata request answered: {len(metadata.brokers)} broker(s), {len(metadata.topics)} topics",
    )


def kafka_problems(settings: Settings, say: Callable[[str], None]) -> list[str]:
    """Creates the missing topics where allowed; one line per topic missing or declared otherwise."""
    ok, detail = kafka_healthy(settings)
    if not ok:
        return [f"kafka: {detail}"]
    existing = broker.admin(settings).list_topics(timeout=CHECK_TIMEOUT_S).topics
    specs = broker.topics(settings)
    problems = []
    for spec in (s for s in specs if s.name not in existing):
        try:
            ensure_topics(settings.kafka_admin, [spec])
        except TopicNotAllowedError:
            problems.append(
                f"kafka: topic {spec.name} does not exist and the admin principal may not create it: create "
                f"it ({_described(spec)}), or allow it: kafka-acls.sh --bootstrap-server "
                f"{settings.kafka_bootstrap} --add --allow-principal User:<admin> --operation Create "
                f"--topic {spec.name}"
            )
            continue
        except TopicError as exc:
            problems.append(f"kafka: {exc}")
            continue
        say(f"created topic {spec.name} ({_described(spec)})")
    present = [s for s in specs if s.name in existing]
    for spec in present:
        partitions = len(existing[spec.name].partitions)
        if partitions != spec.partitions:
            problems.append(
                f"kafka: topic {spec.name} has {partitions} partition(s) where {spec.partitions} are "
                f"declared: recreate it ({_described(spec)}) or name another (its MOVIEVIEWS_*_TOPIC)"
            )
    return problems + _config_problems(settings, present)


def _config_problems(settings: Settings, specs: list[TopicSpec]) -> list[str]:
    """Existing topics are never altered here (they are the team's): a drift is named with its fix."""
    try:
        configs = topic_configs(settings.kafka_admin, [s.name for s in specs], CHECK_TIMEOUT_S)
    except TopicError as exc:
        return [f"kafka: {exc}: the admin principal needs DescribeConfigs on the project's topics"]
    problems = []
    for spec in specs:
        drift = config_drift(configs[spec.name], spec.config)
        if drift:
            wanted = ",".join(f"{name}={value}" for name, value in drift.items())
            problems.append(
                f"kafka: topic {spec.name} is configured otherwise ({_found(configs[spec.name], drift)}): "
                f"kafka-configs.sh --bootstrap-server {settings.kafka_bootstrap} --alter --entity-type "
                f"topics --entity-name {spec.name} --add-config {wanted}"
            )
    return problems


def _described(spec: TopicSpec) -> str:
    return ", ".join([f"{spec.partitions} partitions", *(f"{k}={v}" for k, v in spec.config.items())])


def _found(actual: dict[str, str], drift: dict[str, str]) -> str:
    return ", ".join(f"{name}={actual.get(name)}" for name in drift)


def postgres_problems(settings: Settings) -> list[str]:
    """Each role logs in to the database and may connect to it; the owner may create the schema's tables
    (the migrations grant the others what they read and write)."""
    problems = []
    for role, password_field in ROLES.items():
        dsn = settings.pg_url(role, getattr(settings, password_field), driver=None)
        try:
            with psycopg.connect(dsn, connect_timeout=CHECK_TIMEOUT_S) as conn:
                if role == "mv_owner" and not _may_create(conn):
                    problems.append(
                        f"postgres: {role} may not create tables in schema public of {settings.pg_database} "
                        f"(the migrations need it): ALTER DATABASE {settings.pg_database} OWNER TO {role}"
                    )
        except psycopg.Error as exc:
            problem = _login_problem(settings, role, password_field, str(exc))
            if problem.startswith("postgres: nothing"):
                return [problem]
            problems.append(problem)
    return list(dict.fromkeys(problems))  # a missing database is one problem, whichever role found it


def _may_create(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = conn.execute("SELECT has_schema_privilege('public', 'CREATE')").fetchone()
    return bool(row and row[0])


def _login_problem(settings: Settings, role: str, password_field: str, error: str) -> str:
    """The server's words (libpq gives no SQLSTATE for a refused connection) as the grant that is missing."""
    database, where = settings.pg_database, f"{settings.pg_host}:{settings.pg_port}"
    if f'database "{database}" does not exist' in error:
        return f"postgres: database {database} does not exist: CREATE DATABASE {database} OWNER mv_owner"
    if "permission denied for database" in error:
        return (
            f"postgres: {role} may not connect to {database}: GRANT CONNECT ON DATABASE {database} TO {role}"
        )
    if "password authentication failed" in error or f'role "{role}" does not exist' in error:
        return (
            f"postgres: {role} cannot log in on {where}: CREATE ROLE {role} LOGIN PASSWORD '...' (the one "
            f"in {DECLARED[password_field].env})"
        )
    last = error.strip().splitlines()[-1] if error.strip() else "no answer"
    if "Is the server running" in error or "timeout expired" in error:
        return f"postgres: nothing answers on {where}: {last.strip()}"
    return f"postgres: {role} cannot connect to {database} on {where}: {last.strip()}"


def flink_problems(settings: Settings) -> list[str]:
    ok, detail = flinkrest.healthy(settings)
    return [] if ok else [f"flink: {detail}"]


def check(settings: Settings, say: Callable[[str], None]) -> None:
    """Every problem on its own line, then one error counting them; the topics made where allowed."""
    problems = [*kafka_problems(settings, say), *postgres_problems(settings), *flink_problems(settings)]
    for problem in problems:
        say(f"missing: {problem}")
    if problems:
        raise ServicesError(
            f"{len(problems)} problem(s) with the services MOVIEVIEWS_MANAGED=off points at (each on its "
            "line above): fix them and run `movieviews up` again"
        )
    roles = ", ".join(ROLES)
    say(f"kafka at {settings.kafka_bootstrap}: every topic as declared")
    say(f"postgres at {settings.pg_host}:{settings.pg_port}: {roles} connect to {settings.pg_database}")
    say(f"flink at {settings.flink_rest}: {flinkrest.healthy(settings)[1]}")


def status(settings: Settings) -> list[Health]:
    """The same components as a managed stack's, by the endpoints alone."""
    results = [Health("kafka", *kafka_healthy(settings))]
    if results[0].ok:
        results.append(Health("retention", *broker.retention(settings)))
    results += [Health("flink", *flinkrest.healthy(settings)), Health("postgres", *_postgres(settings))]
    return results


def _postgres(settings: Settings) -> tuple[bool, str]:
    problems = postgres_problems(settings)
    if problems:
        return False, "; ".join(problems)
    return (
        True,
        f"{', '.join(ROLES)} connect to {settings.pg_database} on {settings.pg_host}:{settings.pg_port}",
    )


# -- the API, the one process of the project ----------------------------------------------------------------
def _api_pid_file(paths: StatePaths) -> Path:
    return paths.pid_file(API)


def api_pid(paths: StatePaths) -> int | None:
    return procs.read_pid(_api_pid_file(paths))


def start_api(settings: Settings, paths: StatePaths) -> Callable[[], None]:
    """`movieviews serve` in a session of its own (its workers die with it), unless one already runs; returns
    the check that raises if it died."""
    pid = api_pid(paths)
    if pid is None:
        env = {**os.environ, **settings.to_env()}
        paths.api.mkdir(parents=True, exist_ok=True)
        argv = [str(VENV_BIN / "movieviews"), "serve"]
        pid = procs.spawn(argv, _api_pid_file(paths), paths.log_file(API), env, paths.api)
    started = pid

    def alive() -> None:
        if not procs.is_alive(started):
            raise procs.died("the API", paths.log_file(API))

    return alive


def stop_api(paths: StatePaths, say: Callable[[str], None]) -> None:
    pid = api_pid(paths)
    if pid is None:
        say("managed services off: no process of the project runs (Kafka, Flink and Postgres are not ours)")
        return
    procs.stop(pid)
    _api_pid_file(paths).unlink(missing_ok=True)
    say(f"stopped the API (pid {pid}); Kafka, Flink and Postgres are not ours to stop")


def processes(paths: StatePaths) -> Health:
    """In place of the supervisor: the API process, the one the project runs."""
    pid = api_pid(paths)
    detail = "managed services off: Kafka, Flink and Postgres are the team's; "
    if pid is None:
        return Health(
            "processes", False, detail + "the API process is not running: `movieviews up` starts it"
        )
    figures = {API: {"state": "RUNNING", "restarts": 0, "detail": f"pid {pid}, not supervised"}}
    return Health("processes", True, detail + f"the API runs as pid {pid}", figures)
