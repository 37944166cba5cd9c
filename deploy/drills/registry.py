"""Every drill by name, per profile, in the order `drill all` runs them (the single profile's self-healing
ones after the classic seven)."""

from __future__ import annotations

from deploy.drills import cluster_profile, healing, intruder, scenarios, steps

DRILLS: dict[str, steps.Drill] = {**scenarios.DRILLS, **healing.DRILLS}
CLUSTER_DRILLS: dict[str, steps.Drill] = {**cluster_profile.DRILLS, **intruder.DRILLS}
# The drills that stop or kill a process of Kafka, Flink or Postgres (through the supervisor or by pid): they
# need services the project runs (MOVIEVIEWS_MANAGED=on). api-kill kills a worker of the drill's own API.
STOP_SERVICES = frozenset(
    {
        "taskmanager-kill",
        "jobmanager-kill",
        "postgres-restart",
        "kafka-restart",
        "postgres-kill",
        "long-outage",
        "crash-all",
        "broker-kill",
        "jobmanager-failover",
    }
)


def drills(clustered: bool) -> dict[str, steps.Drill]:
    return CLUSTER_DRILLS if clustered else DRILLS
