"""PostgreSQL: installed from Debian when missing, its cluster under the state dir, roles and database."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from deploy import apt, tls
from deploy.errors import DeployError
from deploy.paths import StatePaths
from deploy.postgres import postmaster
from deploy.settings import Settings
from deploy.supervisor import Program

COMPONENT = "postgres"
# Sized for a 2-core box shared with Kafka and Flink: the read model is small and hot.
SERVER_OPTIONS = (
    "shared_buffers=256MB",
    "max_connections=200",
    "listen_addresses=127.0.0.1",
    "port={port}",
    "unix_socket_directories={sockets}",
)
FALLBACK_ROOT = Path("/var/lib/movieviews")
# With MOVIEVIEWS_PG_TLS on, every TCP connection must be TLS (hostssl) and authenticate by password; a
# plaintext one is refused whoever it claims to be. The local socket stays for the server's own tools.
TLS_HBA = """\
local all all trust
hostssl all all 127.0.0.1/32 scram-sha-256
hostssl all all ::1/128 scram-sha-256
hostssl all all 0.0.0.0/0 scram-sha-256
hostssl all all ::/0 scram-sha-256
hostnossl all all 0.0.0.0/0 reject
hostnossl all all ::/0 reject
"""
ROLES = {
    "mv_owner": "pg_owner_password",
    "mv_writer": "pg_writer_password",
    "mv_reader": "pg_reader_password",
}


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_postgres(argv: list[str]) -> list[str]:
    # The server refuses to run as root; as root we become the `postgres` OS user the Debian package makes.
    return ["runuser", "-u", "postgres", "--", *argv] if _is_root() else argv


def bin_dir() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def ensure_installed() -> Path:
    found = bin_dir()
    if found:
        return found
    apt.can_install("postgresql", "PostgreSQL server")
    # Keep the package from creating and starting its own cluster on 5432: the project runs its own.
    conf = Path("/etc/postgresql-common/createcluster.conf")
    conf.parent.mkdir(parents=True, exist_ok=True)
    if not conf.exists():
        conf.write_text("create_main_cluster = false\n")
    apt.install("postgresql", "PostgreSQL server", recommends=True)
    found = bin_dir()
    if not found:
        raise DeployError("apt-get installed postgresql but no /usr/lib/postgresql/*/bin/pg_ctl exists")
    return found


def home(paths: StatePaths) -> Path:
    """The cluster's folder: under the state dir, unless the `postgres` user cannot reach it (a checkout under
    /root, say); then a folder of its own under /var/lib, one per state dir."""
    if not _is_root() or _postgres_can_reach(paths.home):
        return paths.postgres
    digest = hashlib.sha256(str(paths.home).encode()).hexdigest()[:12]
    return FALLBACK_ROOT / digest / "postgres"


def _postgres_can_reach(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(_as_postgres(["test", "-x", str(folder)]), check=False).returncode == 0


def _sockets(paths: StatePaths) -> Path:
    return home(paths) / "sockets"


def _own(path: Path) -> None:
    if _is_root():
        shutil.chown(path, "postgres", "postgres")


def _initdb(settings: Settings, paths: StatePaths, bindir: Path) -> None:
    data = data_dir(paths)
    if (data / "PG_VERSION").exists():
        return
    for folder in (home(paths), data, _sockets(paths)):
        folder.mkdir(parents=True, exist_ok=True)
        _own(folder)
    data.chmod(0o700)
    pwfile = home(paths) / "initdb.pw"
    pwfile.write_text(settings.pg_admin_password + "\n")
    pwfile.chmod(0o600)
    _own(pwfile)
    try:
        proc = subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    f"--pwfile={pwfile}",
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        pwfile.unlink()
    if proc.returncode != 0:
        raise DeployError(f"initdb failed: {proc.stderr.strip()[-400:]}")


def data_dir(paths: StatePaths) -> Path:
    return home(paths) / "data"


def pid(paths: StatePaths) -> int | None:
    """The postmaster serving this stack's data directory, if one runs."""
    return postmaster.serving(data_dir(paths))


def _tls_dir(paths: StatePaths) -> Path:
    """The server's certificate and key as the `postgres` user reads them (the state dir's secrets are
    root's)."""
    return home(paths) / "tls"


def _prepare_tls(settings: Settings, paths: StatePaths) -> None:
    """The CA and a certificate for the host clients dial, made once under the settings' secrets dir, and
    the server's copy of them (owned by `postgres`, mode 600: Postgres refuses a key others can read)."""
    cert, key = tls.server_certificate(settings.pg_secrets_dir, COMPONENT, settings.pg_host)
    folder = _tls_dir(paths)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    _own(folder)
    for source, target in ((cert, folder / "server.pem"), (key, folder / "server.key")):
        if not target.exists() or target.read_bytes() != source.read_bytes():
            target.unlink(missing_ok=True)
            shutil.copyfile(source, target)
        target.chmod(0o600)
        _own(target)
    hba = folder / "pg_hba.conf"
    hba.write_text(TLS_HBA)
    _own(hba)


def prepare(settings: Settings, paths: StatePaths) -> None:
    """Installs the server when missing, makes the cluster on first use and, with TLS on, its certificate."""
    _initdb(settings, paths, ensure_installed())
    if settings.pg_tls:
        _prepare_tls(settings, paths)


def _tls_options(settings: Settings, paths: StatePaths) -> list[str]:
    if not settings.pg_tls:
        return []
    folder = _tls_dir(paths)
    return [
        "ssl=on",
        f"ssl_cert_file={folder / 'server.pem'}",
        f"ssl_key_file={folder / 'server.key'}",
        "ssl_min_protocol_version=TLSv1.2",
        f"hba_file={folder / 'pg_hba.conf'}",
    ]


def programs(settings: Settings, paths: StatePaths) -> list[Program]:
    """`postgres -D` in the foreground, behind the launcher that clears what a killed postmaster left."""
    bindir = bin_dir() or Path("/usr/lib/postgresql/15/bin")
    server = [str(bindir / "postgres"), "-D", str(data_dir(paths))]
    for option in SERVER_OPTIONS:
        server += ["-c", option.format(port=settings.pg_port, sockets=_sockets(paths))]
    for option in _tls_options(settings, paths):
        server += ["-c", option]
    launcher = [sys.executable, "-m", "deploy.postgres.launcher", str(data_dir(paths))]
    # SIGINT is Postgres' fast shutdown: clients are disconnected and a checkpoint is written.
    return [Program(COMPONENT, [*launcher, *server], data_dir(paths), stop_signal="INT")]


def admin_conninfo(settings: Settings, dbname: str = "postgres") -> str:
    encryption = f" sslmode=verify-full sslrootcert='{settings.pg_ca_file}'" if settings.pg_tls else ""
    return (
        f"host={settings.pg_host} port={settings.pg_port} dbname={dbname} user=postgres "
        f"password={settings.pg_admin_password} connect_timeout=3{encryption}"
    )


def ensure_roles_and_database(settings: Settings) -> None:
    with psycopg.connect(admin_conninfo(settings), autocommit=True) as conn:
        for role, password_field in ROLES.items():
            password = getattr(settings, password_field)
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            extra = " CREATEDB" if role == "mv_owner" else ""
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN" + extra + " PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.pg_database,)
        ).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER mv_owner").format(sql.Identifier(settings.pg_database))
            )


def accepting(settings: Settings) -> tuple[bool, str]:
    """The server takes connections (as the superuser: the project's roles may not exist yet)."""
    try:
        with psycopg.connect(admin_conninfo(settings)) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return False, str(exc)
    return True, "select 1 as postgres"


def healthy(settings: Settings) -> tuple[bool, str]:
    try:
        with psycopg.connect(settings.reader_dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return False, f"select 1 on {settings.pg_host}:{settings.pg_port} failed: {first_line}"
    return True, f"select 1 as mv_reader on {settings.pg_host}:{settings.pg_port}/{settings.pg_database}"
