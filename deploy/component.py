"""What the stack asks of each component: Postgres, Kafka, ZooKeeper, Flink and Prometheus.

A component is a module (`deploy/postgres/server.py`, `deploy/kafka/broker.py`, ...) that defines these names;
`deploy.stack` holds the modules as this type, so mypy checks that each one does.
"""

from __future__ import annotations

from typing import Protocol

from deploy.paths import StatePaths
from deploy.settings import Settings
from deploy.supervisor import Program


class Component(Protocol):
    # Its name in `status`.
    COMPONENT: str

    def prepare(self, settings: Settings, paths: StatePaths) -> None:
        """Installs, configures and initialises what its programs need, before the supervisor starts them."""
        ...

    def programs(self, settings: Settings, paths: StatePaths) -> list[Program]:
        """Its long-lived processes, in start order."""
        ...

    def healthy(self, settings: Settings) -> tuple[bool, str]:
        """Whether it serves, and one line that says what was asked and what answered."""
        ...
