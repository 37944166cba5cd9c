"""Every drill by name, per profile, in the order `drill all` runs them (the single profile's self-healing
ones after the classic seven)."""

from __future__ import annotations

from deploy.drills import cluster, healing, scenarios

DRILLS: dict[str, scenarios.Drill] = {**scenarios.DRILLS, **healing.DRILLS}
CLUSTER_DRILLS: dict[str, scenarios.Drill] = cluster.DRILLS


def drills(clustered: bool) -> dict[str, scenarios.Drill]:
    return CLUSTER_DRILLS if clustered else DRILLS
