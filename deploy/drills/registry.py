"""Every drill by name, in the order `drill all` runs them (the self-healing ones after the classic seven)."""

from __future__ import annotations

from deploy.drills import healing, scenarios

DRILLS: dict[str, scenarios.Drill] = {**scenarios.DRILLS, **healing.DRILLS}
