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
from confluent_kafka.admin import AclOperation, AdminClient, ResourceType  # type: ignore[attr-defined]

from deploy import procs
from deploy.errors import DeployError
from deploy.kafka import broker, security
from deploy.paths import VENV_BIN, StatePaths
from deploy.postgres.server import ROLES
from deploy.settings import DECLARED, ConfigError, Settings
from deploy.stack import API, Health
from ground.kafka import KafkaAccess, client_config
from ingest.errors import TopicError, TopicNotAllowedError
from ingest.topics import TopicAccess, TopicSpec, config_drift, ensure_topics, topic_access, topic_configs
from stream import flinkrest

# The team's brokers and database answer across a network: seconds, not the loopback's milliseconds.
CHECK_TIMEOUT_S = 10


class ServicesError(DeployError):
    """The services a team brings lack something the project needs; each problem was said on its line."""


def _admin(settings: Settings) -> KafkaAccess | None:
    """The admin principal, where the team gave its password. A team may give only the API's and the job's:
    then its own admin makes the topics and nothing reads their configuration here (that needs
    DescribeConfigs, which neither of the two has)."""
    try:
        return settings.kafka_admin
    except ConfigError:
        return None


def kafka_healthy(settings: Settings) -> tuple[bool, str]:
    """Healthy once the bootstrap list answers a metadata request, asked as the API's principal: every
    principal is answered one, and the admin's may not be given (a team's cluster may have more brokers than
    the list names)."""
    try:
        metadata = AdminClient(client_config(settings.kafka_api)).list_topics(timeout=CHECK_TIMEOUT_S)
    except KafkaException as exc:
        return False, f"metadata request to {settings.kafka_bootstrap} failed: {exc}"
    return (
        True,
        f"metadata request answered: {len(metadata.brokers)} broker(s), {len(metadata.topics)} topics",
    )


def kafka_problems(settings: Settings, say: Callable[[str], None]) -> list[str]:
    """With the admin's password: the missing topics created where allowed, the others' configuration
    checked. Then, as the API's and the job's principals: one line per topic that is missing, partitioned
    otherwise, or not usable as the project's ACLs say (`deploy.kafka.security.acls`)."""
    ok, detail = kafka_healthy(settings)
    if not ok:
        return [f"kafka: {detail}"]
    admin = _admin(settings)
    problems = [] if admin is None else _admin_problems(settings, admin, say)
    needed, seen = needs(settings), {}
    for user, topics in needed.items():
        try:
            seen[user] = topic_access(settings.kafka_as(user), list(topics), CHECK_TIMEOUT_S)
        except TopicError as exc:  # e.g. its password refused
            problems.append(f"kafka: {user} cannot describe its topics: {exc}")
    described = {user: topics for user, topics in needed.items() if user in seen}
    return problems + access_problems(settings, described, seen, admin_given=admin is not None)


def _admin_problems(settings: Settings, admin: KafkaAccess, say: Callable[[str], None]) -> list[str]:
    """As the admin principal: the missing topics created where it may, the others' configuration read."""
    existing = AdminClient(client_config(admin)).list_topics(timeout=CHECK_TIMEOUT_S).topics
    specs = broker.topics(settings)
    problems = []
    for spec in (s for s in specs if s.name not in existing):
        try:
            ensure_topics(admin, [spec])
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
    return problems + _config_problems(settings, admin, [s for s in specs if s.name in existing])


def needs(settings: Settings) -> dict[str, dict[str, frozenset[AclOperation]]]:
    """Principal -> topic -> what the project's ACLs let it do there, as the stack grants its own."""
    found: dict[str, dict[str, frozenset[AclOperation]]] = {}
    for binding in security.acls(settings):
        if binding.restype == ResourceType.TOPIC:
            topics = found.setdefault(binding.principal.removeprefix("User:"), {})
            topics[binding.name] = topics.get(binding.name, frozenset()) | {AclOperation(binding.operation)}
    return found


def access_problems(
    settings: Settings,
    needed: dict[str, dict[str, frozenset[AclOperation]]],
    seen: dict[str, dict[str, TopicAccess]],
    admin_given: bool,
) -> list[str]:
    """One line per topic a principal may not use as `needed` says, with the grant that is missing; per topic
    that does not exist (unless the admin's checks said so) or has other partitions than declared."""
    specs = {s.name: s for s in broker.topics(settings)}
    problems = []
    for user, topics in needed.items():
        for name, operations in topics.items():
            access, spec = seen[user][name], specs[name]
            if access.known and access.partitions is None:
                if not admin_given:
                    problems.append(f"kafka: topic {name} does not exist: create it ({_described(spec)})")
                continue
            lacking = sorted(operations - access.operations, key=lambda op: op.name)
            if lacking:
                words = ", ".join(op.name.lower().replace("_", " ") for op in lacking)
                flags = " ".join(f"--operation {_acl_word(op)}" for op in lacking)
                problems.append(
                    f"kafka: {user} may not {words} topic {name}: kafka-acls.sh --bootstrap-server "
                    f"{settings.kafka_bootstrap} --add --allow-principal User:{user} {flags} --topic {name}"
                )
            if access.partitions is not None and access.partitions != spec.partitions:
                problems.append(
                    f"kafka: topic {name} has {access.partitions} partition(s) where {spec.partitions} are "
                    f"declared: recreate it ({_described(spec)}) or name another (its MOVIEVIEWS_*_TOPIC)"
                )
    return list(dict.fromkeys(problems))  # a topic's partitions are one problem, whichever principal saw them


def _acl_word(operation: AclOperation) -> str:
    """An operation as kafka-acls.sh spells it: IDEMPOTENT_WRITE -> IdempotentWrite."""
    return "".join(part.title() for part in operation.name.split("_"))


def _config_problems(settings: Settings, admin: KafkaAccess, specs: list[TopicSpec]) -> list[str]:
    """Existing topics are never altered here (they are the team's): a drift is named with its fix."""
    try:
        configs = topic_configs(admin, [s.name for s in specs], CHECK_TIMEOUT_S)
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
    topics = "as declared" if _admin(settings) else "there (their configuration unread: no admin principal)"
    say(f"kafka at {settings.kafka_bootstrap}: every topic {topics}, each principal granted what it uses")
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
