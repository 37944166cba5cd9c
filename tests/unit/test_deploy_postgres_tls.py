"""Postgres over TLS: the certificates `up` makes, the server options, and what every client is told."""

from __future__ import annotations

import ssl
from pathlib import Path

from sqlalchemy import make_url

from deploy import tls
from deploy.paths import StatePaths
from deploy.postgres import server as postgres
from deploy.settings import Settings
from readmodel.store import _tls


def settings_with(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"MOVIEVIEWS_HOME": str(tmp_path), **env})


def test_the_single_profile_speaks_plain_postgres_by_default(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    assert not settings.pg_tls
    assert (
        settings.owner_dsn == f"postgresql://mv_owner:{settings.pg_owner_password}@127.0.0.1:5433/movieviews"
    )
    assert settings.writer_jdbc_url == "jdbc:postgresql://127.0.0.1:5433/movieviews"
    assert "ssl" not in postgres.admin_conninfo(settings)
    assert postgres._tls_options(settings, StatePaths(tmp_path)) == []


def test_the_cluster_profile_verifies_postgres_full_against_its_own_ca() -> None:
    settings = Settings.from_env({}, profile="cluster")
    tail = f"?sslmode=verify-full&sslrootcert={settings.home}/secrets/postgres/ca.pem"
    assert settings.pg_tls
    assert settings.owner_dsn.endswith(f"@127.0.0.1:19433/movieviews{tail}")
    assert settings.owner_url.startswith("postgresql+psycopg://") and settings.owner_url.endswith(tail)
    assert settings.reader_url.startswith("postgresql+asyncpg://") and settings.reader_url.endswith(tail)
    assert settings.writer_jdbc_url == f"jdbc:postgresql://127.0.0.1:19433/movieviews{tail}"
    assert postgres.admin_conninfo(settings).endswith(
        f"sslmode=verify-full sslrootcert='{settings.home}/secrets/postgres/ca.pem'"
    )


def test_a_ca_of_ones_own_is_read_from_the_secrets_setting(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, MOVIEVIEWS_PG_TLS="on", MOVIEVIEWS_PG_SECRETS="/etc/team ca")
    assert settings.pg_ca_file == Path("/etc/team ca/ca.pem")
    assert settings.writer_dsn.endswith("?sslmode=verify-full&sslrootcert=/etc/team%20ca/ca.pem")


def test_the_server_runs_ssl_only_with_its_certificate_and_a_hostssl_pg_hba(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, MOVIEVIEWS_PG_TLS="on")
    options = dict(o.split("=", 1) for o in postgres._tls_options(settings, StatePaths(tmp_path)))
    assert options["ssl"] == "on"
    assert options["ssl_cert_file"].endswith("/tls/server.pem")
    assert options["ssl_key_file"].endswith("/tls/server.key")
    rules = [line.split() for line in postgres.TLS_HBA.splitlines()]
    assert {rule[0] for rule in rules} == {"local", "hostssl", "hostnossl"}
    assert all(rule[-1] == "reject" for rule in rules if rule[0] == "hostnossl")
    assert all(rule[-1] == "scram-sha-256" for rule in rules if rule[0] == "hostssl")


def test_the_certificates_are_made_once_private_and_reissued_only_for_another_host(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    cert, key = tls.server_certificate(folder, "postgres", "127.0.0.1")
    first = cert.read_bytes(), key.read_bytes()
    assert tls.names_host(cert, "127.0.0.1") and tls.names_host(cert, "localhost")
    assert not tls.names_host(cert, "10.0.0.7")
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {
        name: 0o600 for name in ("ca.key", "ca.pem", "ca.srl", "postgres.key", "postgres.pem")
    }
    assert tls.server_certificate(folder, "postgres", "127.0.0.1") == (cert, key)
    assert (cert.read_bytes(), key.read_bytes()) == first
    ca = (folder / "ca.pem").read_bytes()
    tls.server_certificate(folder, "postgres", "db.example.internal")
    assert tls.names_host(cert, "db.example.internal")
    assert (folder / "ca.pem").read_bytes() == ca


def test_the_api_pool_gets_a_context_that_checks_the_ca_and_the_host_name(tmp_path: Path) -> None:
    ca = tls.ca_certificate(tmp_path)
    url, args = _tls(
        make_url(f"postgresql+asyncpg://mv_reader:pw@db:5432/movieviews?sslmode=verify-full&sslrootcert={ca}")
    )
    assert url.render_as_string(hide_password=False) == "postgresql+asyncpg://mv_reader:pw@db:5432/movieviews"
    context = args["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", f"movieviews-ca {tmp_path.name}"),),)
    ]
    assert _tls(make_url("postgresql+asyncpg://mv_reader:pw@db/movieviews")) == (
        make_url("postgresql+asyncpg://mv_reader:pw@db/movieviews"),
        {},
    )
