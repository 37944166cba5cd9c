"""Where everything lives under the state directory (`MOVIEVIEWS_HOME`, default `<repo>/.state`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from deploy.settings import REPO_ROOT

DEPLOY_DIR = REPO_ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class StatePaths:
    home: Path

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def jars(self) -> Path:
        """The connector jars every job needs: the cluster's lib dir links them, local runs add them."""
        return self.home / "jars"

    @property
    def build(self) -> Path:
        return self.home / "build"

    @property
    def web_assets(self) -> Path:
        """Browser assets the API serves under /assets (GraphiQL, React), unpacked from their WebJars."""
        return self.home / "web"

    @property
    def kafka(self) -> Path:
        return self.home / "kafka"

    @property
    def zookeeper(self) -> Path:
        return self.home / "zookeeper"

    @property
    def postgres(self) -> Path:
        return self.home / "postgres"

    @property
    def flink(self) -> Path:
        return self.home / "flink"

    @property
    def flink_conf(self) -> Path:
        return self.flink / "conf"

    @property
    def flink_lib(self) -> Path:
        return self.flink / "lib"

    @property
    def checkpoints(self) -> Path:
        return self.flink / "checkpoints"

    @property
    def savepoints(self) -> Path:
        return self.flink / "savepoints"

    @property
    def flink_ha(self) -> Path:
        """JobManager HA storage (cluster profile): job graphs and checkpoint pointers ZooKeeper points at."""
        return self.flink / "ha"

    @property
    def api(self) -> Path:
        """The API's working directory: its processes are found by it after a crash."""
        return self.home / "api"

    @property
    def truth(self) -> Path:
        return self.home / "truth"

    @property
    def demo_key(self) -> Path:
        """The API key `up` makes for the demo (mode 600): the demo sends it like any client."""
        return self.home / "demo-api-key"

    def pid_file(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"
