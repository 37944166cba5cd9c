"""ZooKeeper from Apache's Maven jars: the HA service of the cluster profile's Flink JobManagers.

Why ZooKeeper: Flink 1.20 ships two HA services, ZooKeeper and Kubernetes; there is no Kubernetes here, and
ZooKeeper runs from jars like Kafka does. The wheel's flink-dist already holds Flink's shaded ZooKeeper client
and Curator, so nothing is added to the Flink side.
"""

from __future__ import annotations

import socket
import string
import subprocess

from deploy.errors import DeployError
from deploy.paths import DEPLOY_DIR, StatePaths
from deploy.settings import Settings, port_of
from deploy.supervisor import Program

COMPONENT = "zookeeper"
# Leader election and a few pointers per job: 64 MB of heap is plenty (RSS ~100 MB).
HEAP = "-Xmx64m"
HEALTH_TIMEOUT_S = 3.0
# The CLI is a JVM: 1-3 s on a quiet machine, far longer at load average 10+.
CLI_TIMEOUT_S = 60


def server(settings: Settings) -> str:
    """The server this host runs: the first of the quorum's host:port list (the only one here)."""
    return settings.zookeeper.split(",")[0]


def prepare(settings: Settings, paths: StatePaths) -> None:
    home = paths.zookeeper
    (home / "data").mkdir(parents=True, exist_ok=True)
    template = string.Template((DEPLOY_DIR / "zookeeper" / "zoo.cfg").read_text())
    host = server(settings).rsplit(":", 1)[0]
    config = template.substitute(data=home / "data", port=port_of(server(settings)), host=host)
    (home / "zoo.cfg").write_text(config)


def programs(settings: Settings, paths: StatePaths) -> list[Program]:
    home = paths.zookeeper
    argv = [
        "java",
        HEAP,
        "-cp",
        str(home / "libs" / "*"),
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        str(home / "zoo.cfg"),
    ]
    return [Program(COMPONENT, argv, home)]


def healthy(settings: Settings) -> tuple[bool, str]:
    """ZooKeeper's `srvr` four-letter command: its mode (standalone, leader, follower)."""
    host, port = server(settings).rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=HEALTH_TIMEOUT_S) as sock:
            sock.sendall(b"srvr")
            answer = sock.makefile("rb").read().decode(errors="replace")
    except OSError as exc:
        return False, f"srvr to {settings.zookeeper} failed: {exc}"
    mode = next((line for line in answer.splitlines() if line.startswith("Mode:")), "")
    return bool(mode), f"srvr on {settings.zookeeper}: {mode or answer.strip()[:80]}"


def read(settings: Settings, paths: StatePaths, znode: str) -> str:
    """A znode's data as text, read with ZooKeeper's own CLI from its jars (a JVM start: 1-3 s)."""
    argv = [
        "java",
        HEAP,
        "-cp",
        str(paths.zookeeper / "libs" / "*"),
        "org.apache.zookeeper.ZooKeeperMain",
        "-server",
        settings.zookeeper,
        "get",
        znode,
    ]
    proc = subprocess.run(argv, capture_output=True, timeout=CLI_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        tail = proc.stderr[-400:].decode(errors="replace")
        raise DeployError(f"reading {znode} from ZooKeeper {settings.zookeeper} failed: {tail}")
    return proc.stdout.decode("latin-1")
