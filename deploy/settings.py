"""The one place environment variables are declared.

Every entry point (CLI, API server, stream job) builds one frozen `Settings` from its environment with
`Settings.from_env(os.environ)` and passes it down; library code never reads the environment itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

from deploy.errors import DeployError
from ground.kafka import ADMIN, API, JOB, Credentials, KafkaAccess
from stream.config import STATE_BACKENDS

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(DeployError):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Setting:
    env: str
    default: str  # as the variable spells it; cast by the field's type like any value read
    doc: str


def setting(env: str, default: str, doc: str) -> Any:
    """A field of `Settings`, read from the environment variable `env` by `Settings.from_env`."""
    return field(metadata={"setting": Setting(env, default, doc)})


PROFILES = ("single", "cluster")
# The cluster profile is a stack of its own beside the single one: its own state dir and ports, each
# overridable as MOVIEVIEWS_CLUSTER_<NAME> (e.g. MOVIEVIEWS_CLUSTER_PG_PORT). Settings not listed here
# (topics, passwords, intervals) are shared: MOVIEVIEWS_CLUSTER_<NAME>, then MOVIEVIEWS_<NAME>.
PROFILE_DEFAULTS: dict[str, dict[str, str]] = {
    "single": {},
    "cluster": {
        "home": str(REPO_ROOT / ".state" / "cluster"),
        "kafka_bootstrap": "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096",
        "kafka_controllers": "127.0.0.1:19093,127.0.0.1:19095,127.0.0.1:19097",
        "kafka_security": "on",
        "zookeeper": "127.0.0.1:19181",
        "pg_port": "19433",
        "pg_tls": "on",
        "flink_rest": "http://127.0.0.1:19081",
        "flink_rpc_port": "19123",
        "flink_jobmanager_metrics_port": "19249",
        "flink_taskmanager_metrics_port": "19250",
        "flink_standby_rest": "http://127.0.0.1:19082",
        "flink_standby_rpc_port": "19124",
        "flink_standby_metrics_port": "19251",
        "flink_taskmanager_2_metrics_port": "19252",
        "api_port": "19000",
        "prometheus": "off",
        "prometheus_port": "19090",
        "job_parallelism": "2",
    },
}


@dataclass(frozen=True)
class Settings:
    """Every setting with its environment variable, default and meaning; the defaults give a working
    single-machine stack."""

    profile: str = setting(
        "MOVIEVIEWS_PROFILE",
        "single",
        "single: one process per component; cluster: 3 Kafka nodes, ZooKeeper, 2 JobManagers, 2 TaskManagers",
    )
    # `setting` makes a dataclasses.field, no shared default value (ruff reads any call as one).
    home: Path = setting(  # noqa: RUF009
        "MOVIEVIEWS_HOME", str(REPO_ROOT / ".state"), "state dir: data, logs, pids, checkpoints"
    )
    managed: bool = setting(
        "MOVIEVIEWS_MANAGED",
        "on",
        "on: `up` runs Kafka, Flink and Postgres under its supervisor; off: they are yours (the endpoints "
        "below), `up` checks them and starts no process of them",
    )

    # Kafka
    kafka_bootstrap: str = setting("MOVIEVIEWS_KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers")
    kafka_controller_port: int = setting("MOVIEVIEWS_KAFKA_CONTROLLER_PORT", "9093", "KRaft controller port")
    kafka_controllers: str = setting(
        "MOVIEVIEWS_KAFKA_CONTROLLERS",
        "auto",
        "KRaft controllers host:port, one per broker of the bootstrap list (node i is both); "
        "auto: one, on the first broker's host at MOVIEVIEWS_KAFKA_CONTROLLER_PORT",
    )
    kafka_security: bool = setting(
        "MOVIEVIEWS_KAFKA_SECURITY",
        "off",
        "on: Kafka clients authenticate (SASL/SCRAM-SHA-512) over TLS, one principal each, and the brokers "
        "enforce ACLs; `up` makes the CA, the brokers' certificates and the passwords once",
    )
    kafka_secrets: str = setting(
        "MOVIEVIEWS_KAFKA_SECRETS",
        "auto",
        "directory of the Kafka CA certificate (ca.pem) and one <principal>.password file each; "
        "auto: <home>/secrets/kafka, made by `up`",
    )

    # Topics
    views_topic: str = setting("MOVIEVIEWS_VIEWS_TOPIC", "movie-views", "MovieViewed events")
    movies_topic: str = setting("MOVIEVIEWS_MOVIES_TOPIC", "movies", "MovieRegistered events")
    dlq_topic: str = setting("MOVIEVIEWS_DLQ_TOPIC", "movie-views-dlq", "dead letters with their reason")
    schemas_topic: str = setting("MOVIEVIEWS_SCHEMAS_TOPIC", "movieviews-schemas", "run-time schema catalog")

    # PostgreSQL
    pg_host: str = setting("MOVIEVIEWS_PG_HOST", "127.0.0.1", "PostgreSQL host")
    pg_port: int = setting("MOVIEVIEWS_PG_PORT", "5433", "PostgreSQL port")
    pg_database: str = setting("MOVIEVIEWS_PG_DATABASE", "movieviews", "database of the read model")
    pg_admin_password: str = setting("MOVIEVIEWS_PG_ADMIN_PASSWORD", "movieviews-admin", "postgres superuser")
    pg_owner_password: str = setting(
        "MOVIEVIEWS_PG_OWNER_PASSWORD", "movieviews-owner", "mv_owner: migrations"
    )
    pg_writer_password: str = setting(
        "MOVIEVIEWS_PG_WRITER_PASSWORD", "movieviews-writer", "mv_writer: stream job"
    )
    pg_reader_password: str = setting("MOVIEVIEWS_PG_READER_PASSWORD", "movieviews-reader", "mv_reader: API")
    pg_tls: bool = setting(
        "MOVIEVIEWS_PG_TLS",
        "off",
        "on: Postgres takes TLS connections only (hostssl) and every client verifies its certificate and "
        "host name (sslmode=verify-full) against the CA in MOVIEVIEWS_PG_SECRETS; `up` makes the CA and "
        "the server's certificate once",
    )
    pg_secrets: str = setting(
        "MOVIEVIEWS_PG_SECRETS",
        "auto",
        "directory of the Postgres CA certificate (ca.pem) clients verify the server with; "
        "auto: <home>/secrets/postgres, made by `up`",
    )

    # Flink and ZooKeeper
    flink_rest: str = setting(
        "MOVIEVIEWS_FLINK_REST", "http://127.0.0.1:8081", "Flink REST endpoint and web UI"
    )
    flink_rpc_port: int = setting("MOVIEVIEWS_FLINK_RPC_PORT", "6123", "Flink JobManager RPC port")
    flink_secrets: str = setting(
        "MOVIEVIEWS_FLINK_SECRETS",
        "auto",
        "with an https:// MOVIEVIEWS_FLINK_REST (mutual TLS): directory of the CA (ca.pem) and the REST "
        "identity every client presents (rest.pem, rest.key); auto: <home>/secrets/flink, made by `up`",
    )
    flink_jobmanager_metrics_port: int = setting(
        "MOVIEVIEWS_FLINK_JOBMANAGER_METRICS_PORT", "9249", "JobManager's Prometheus endpoint (/metrics)"
    )
    flink_taskmanager_metrics_port: int = setting(
        "MOVIEVIEWS_FLINK_TASKMANAGER_METRICS_PORT", "9250", "TaskManager's Prometheus endpoint (/metrics)"
    )
    flink_standby_rest: str = setting(
        "MOVIEVIEWS_FLINK_STANDBY_REST",
        "http://127.0.0.1:8082",
        "standby JobManager's REST (cluster profile)",
    )
    flink_standby_rpc_port: int = setting(
        "MOVIEVIEWS_FLINK_STANDBY_RPC_PORT", "6124", "standby JobManager's RPC port (cluster profile)"
    )
    flink_standby_metrics_port: int = setting(
        "MOVIEVIEWS_FLINK_STANDBY_METRICS_PORT", "9251", "standby JobManager's /metrics (cluster profile)"
    )
    flink_taskmanager_2_metrics_port: int = setting(
        "MOVIEVIEWS_FLINK_TASKMANAGER_2_METRICS_PORT",
        "9252",
        "second TaskManager's /metrics (cluster profile)",
    )
    zookeeper: str = setting(
        "MOVIEVIEWS_ZOOKEEPER", "127.0.0.1:2181", "ZooKeeper for Flink JobManager HA (cluster profile)"
    )

    # The stream job
    job_name: str = setting(
        "MOVIEVIEWS_JOB_NAME",
        "movieviews",
        "the stream job's name on Flink (and its consumer group unless the default): one per deployment",
    )
    job_parallelism: int = setting("MOVIEVIEWS_JOB_PARALLELISM", "1", "the stream job's parallelism")

    # Logs
    json_logs: bool = setting(
        "MOVIEVIEWS_JSON_LOGS", "off", "API and CLI log lines as JSON objects, with request ids: on or off"
    )

    # Prometheus
    prometheus: bool = setting("MOVIEVIEWS_PROMETHEUS", "on", "`up` starts Prometheus: on or off")
    prometheus_port: int = setting("MOVIEVIEWS_PROMETHEUS_PORT", "9090", "Prometheus web UI and HTTP API")

    # The API
    api_host: str = setting("MOVIEVIEWS_API_HOST", "127.0.0.1", "GraphQL API bind host")
    api_port: int = setting("MOVIEVIEWS_API_PORT", "8000", "GraphQL API port")
    api_workers: int = setting("MOVIEVIEWS_API_WORKERS", "2", "API worker processes")
    top_limit_max: int = setting("MOVIEVIEWS_TOP_LIMIT_MAX", "100", "largest topMovies limit")
    api_key_pepper: str = setting(
        "MOVIEVIEWS_API_KEY_PEPPER",
        "movieviews-local-pepper",
        "HMAC key for stored API keys; set it in production",
    )
    api_reads_need_key: bool = setting(
        "MOVIEVIEWS_API_READS_NEED_KEY", "off", "on: queries need an API key too"
    )
    api_key_rate: int = setting(
        "MOVIEVIEWS_API_KEY_RATE", "100", "requests/s per API key (burst: twice that)"
    )
    api_anonymous_rate: int = setting(
        "MOVIEVIEWS_API_ANONYMOUS_RATE", "20", "requests/s per client address without a key (burst: twice)"
    )
    api_max_body_bytes: int = setting(
        "MOVIEVIEWS_API_MAX_BODY_BYTES",
        "65536",
        "largest request body of /graphql and /api, in bytes; a larger one is refused (413) unread",
    )

    # The stream job: checkpoints, output and state
    checkpoint_interval_ms: int = setting(
        "MOVIEVIEWS_CHECKPOINT_INTERVAL_MS", "2000", "job checkpoint interval"
    )
    flush_interval_ms: int = setting(
        "MOVIEVIEWS_FLUSH_INTERVAL_MS", "200", "at most one snapshot per movie per this"
    )
    dedup_window_s: int = setting(
        "MOVIEVIEWS_DEDUP_WINDOW_S", "86400", "the job remembers an applied event_id this long; 0 = off"
    )
    state_backend: str = setting(
        "MOVIEVIEWS_STATE_BACKEND",
        "rocksdb",
        "job state backend: rocksdb (disk, incremental checkpoints) or hashmap (heap, full checkpoints)",
    )
    stop_timeout_s: int = setting(
        "MOVIEVIEWS_STOP_TIMEOUT_S",
        "60",
        "`down` waits this long for the job's stop with a savepoint, then cancels it (its checkpoint kept)",
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], profile: str | None = None, **overrides: object
    ) -> Settings:
        """`profile` (the CLI's `--profile`) wins over MOVIEVIEWS_PROFILE."""
        profile = profile or environ.get(DECLARED["profile"].env, DECLARED["profile"].default)
        if profile not in PROFILES:
            raise ConfigError(
                f"Config '{DECLARED['profile'].env}' must be one of {PROFILES}, got {profile!r}"
            )
        values: dict[str, object] = {"profile": profile}
        for each in fields(cls)[1:]:
            declared = DECLARED[each.name]
            raw = environ.get(_profiled(profile, declared.env))
            if raw is None:
                raw = PROFILE_DEFAULTS[profile].get(each.name) or environ.get(declared.env, declared.default)
            values[each.name] = _cast(declared.env, raw, str(each.type))
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        # A malformed broker or controller list fails here, at the entry point. The controllers are the
        # project's only where it runs Kafka: a team's bootstrap list may name any number of brokers.
        if settings.managed:
            settings.kafka_nodes()
        if settings.state_backend not in STATE_BACKENDS:
            raise ConfigError(
                f"Config '{DECLARED['state_backend'].env}' must be one of {STATE_BACKENDS}, "
                f"got {settings.state_backend!r}"
            )
        return settings

    def to_env(self) -> dict[str, str]:
        """The environment that rebuilds these settings in another process (`from_env` of it)."""
        env = {}
        for f in fields(self):
            name = DECLARED[f.name].env
            env[name] = env[_profiled(self.profile, name)] = _text(getattr(self, f.name))
        return env

    @property
    def clustered(self) -> bool:
        return self.profile == "cluster"

    @property
    def kafka_brokers(self) -> list[str]:
        return self.kafka_bootstrap.split(",")

    def kafka_nodes(self) -> list[tuple[str, str]]:
        """(broker, controller) host:port of each KRaft node, node ids 1, 2, 3... in this order."""
        brokers = self.kafka_brokers
        controllers = (
            self.kafka_controllers.split(",")
            if self.kafka_controllers != "auto"
            else [f"{brokers[0].rsplit(':', 1)[0]}:{self.kafka_controller_port}"]
        )
        if len(brokers) != len(controllers) or not all(":" in a for a in brokers + controllers):
            raise ConfigError(
                f"Config '{DECLARED['kafka_controllers'].env}' must list one host:port per broker of "
                f"'{DECLARED['kafka_bootstrap'].env}': {controllers} for {brokers}"
            )
        return list(zip(brokers, controllers, strict=True))

    @property
    def kafka_secrets_dir(self) -> Path:
        return self.home / "secrets" / "kafka" if self.kafka_secrets == "auto" else Path(self.kafka_secrets)

    def kafka_as(self, user: str) -> KafkaAccess:
        """How `user` (ground.kafka's ADMIN, API or JOB) reaches the brokers."""
        if not self.kafka_security:
            return KafkaAccess(self.kafka_bootstrap)
        try:
            return KafkaAccess(self.kafka_bootstrap, Credentials.load(self.kafka_secrets_dir, user))
        except OSError as exc:
            raise ConfigError(
                f"Config '{DECLARED['kafka_security'].env}' is on but Kafka user {user}'s password is "
                f"unreadable in {self.kafka_secrets_dir} ({exc.strerror}): `movieviews up` makes it, or "
                f"point '{DECLARED['kafka_secrets'].env}' at the directory holding it"
            ) from exc

    @property
    def kafka_admin(self) -> KafkaAccess:
        return self.kafka_as(ADMIN)

    @property
    def kafka_api(self) -> KafkaAccess:
        return self.kafka_as(API)

    @property
    def kafka_job(self) -> KafkaAccess:
        return self.kafka_as(JOB)

    def pg_url(
        self, role: str, password: str, driver: str | None = "psycopg", database: str | None = None
    ) -> str:
        """A SQLAlchemy URL for `driver`; with driver None, a plain libpq URL for `psycopg.connect`."""
        db = database or self.pg_database
        scheme = "postgresql" if driver is None else f"postgresql+{driver}"
        return f"{scheme}://{role}:{password}@{self.pg_host}:{self.pg_port}/{db}{self.pg_tls_query}"

    @property
    def pg_secrets_dir(self) -> Path:
        return self.home / "secrets" / "postgres" if self.pg_secrets == "auto" else Path(self.pg_secrets)

    @property
    def pg_ca_file(self) -> Path:
        return self.pg_secrets_dir / "ca.pem"

    @property
    def pg_tls_query(self) -> str:
        """libpq's TLS parameters as a URL query (also pgjdbc's names), or nothing with TLS off: verify-full
        checks the server's certificate against the CA and its name against the host dialled."""
        if not self.pg_tls:
            return ""
        return f"?sslmode=verify-full&sslrootcert={quote(str(self.pg_ca_file))}"

    @property
    def owner_dsn(self) -> str:
        return self.pg_url("mv_owner", self.pg_owner_password, driver=None)

    @property
    def writer_dsn(self) -> str:
        return self.pg_url("mv_writer", self.pg_writer_password, driver=None)

    @property
    def reader_dsn(self) -> str:
        return self.pg_url("mv_reader", self.pg_reader_password, driver=None)

    @property
    def owner_url(self) -> str:
        return self.pg_url("mv_owner", self.pg_owner_password)

    @property
    def reader_url(self) -> str:
        return self.pg_url("mv_reader", self.pg_reader_password, driver="asyncpg")

    @property
    def writer_jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.pg_host}:{self.pg_port}/{self.pg_database}{self.pg_tls_query}"

    @property
    def kafka_port(self) -> int:
        """The first broker's port."""
        return port_of(self.kafka_brokers[0])

    @property
    def flink_rest_port(self) -> int:
        return port_of(self.flink_rest)

    @property
    def flink_secrets_dir(self) -> Path:
        return self.home / "secrets" / "flink" if self.flink_secrets == "auto" else Path(self.flink_secrets)

    @property
    def flink_rest_identity(self) -> tuple[Path, Path, Path] | None:
        """(CA, certificate, key) a client of an https:// REST API verifies it with and presents (Flink's
        REST SSL with mutual authentication); None over http."""
        if not self.flink_rest.startswith("https://"):
            return None
        folder = self.flink_secrets_dir
        return folder / "ca.pem", folder / "rest.pem", folder / "rest.key"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def graphql_ws_url(self) -> str:
        """Where subscriptions connect (graphql-transport-ws)."""
        return f"ws://{self.api_host}:{self.api_port}/graphql"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"


# Each setting's declaration by field name: for messages naming the variable, and for the docs.
DECLARED: dict[str, Setting] = {f.name: f.metadata["setting"] for f in fields(Settings)}


def _text(value: object) -> str:
    """A value as `_cast` reads it back: booleans are on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def port_of(address: str) -> int:
    """The port of `host:port` or of a URL ending in one."""
    return int(address.rsplit(":", 1)[1])


def _profiled(profile: str, env: str) -> str:
    """MOVIEVIEWS_X as the profile's own variable: MOVIEVIEWS_CLUSTER_X (the single profile's is itself)."""
    return env if profile == "single" else env.replace("MOVIEVIEWS_", f"MOVIEVIEWS_{profile.upper()}_", 1)


def _cast(env: str, raw: str, type_name: str) -> object:
    if raw == "":
        raise ConfigError(f"Config '{env}' is missing")
    if type_name == "int":
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"Config '{env}' must be an integer, got {raw!r}") from exc
    if type_name == "bool":
        if raw not in ("on", "off"):
            raise ConfigError(f"Config '{env}' must be on or off, got {raw!r}")
        return raw == "on"
    if type_name == "Path":
        return Path(raw).expanduser().resolve()
    return raw
