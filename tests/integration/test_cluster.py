"""The cluster profile's drills: 3 Kafka nodes, ZooKeeper, 2 JobManagers and 2 TaskManagers brought up once,
beside the single stack on ports of their own, each node or manager killed under load, counts exact per movie.

The profile is started here and not by the session's `stack` fixture: it is a second stack (its own state dir,
`MOVIEVIEWS_CLUSTER_*` ports, 8 JVMs), so it runs last (tests/conftest.py) and is stopped, with its data
removed, when the module ends, passed or failed. A cluster stack already running (`up --profile cluster`) is
reused and left as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from deploy import stack as deploy_stack
from deploy import tls
from deploy.drills.registry import CLUSTER_DRILLS
from deploy.paths import StatePaths
from deploy.postgres import server as postgres
from deploy.settings import Settings


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


@pytest.mark.parametrize("name", list(CLUSTER_DRILLS))
def test_cluster_drill_keeps_counts_exact(cluster: Settings, name: str) -> None:
    report = CLUSTER_DRILLS[name](cluster)
    assert (report.lost, report.double_counted) == (0, 0), report
    assert report.passed, report
