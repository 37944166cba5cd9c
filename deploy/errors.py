"""Errors of the deploy package: each says what failed and what to do about it, in one line."""

from __future__ import annotations

from ground import MovieviewsError


class DeployError(MovieviewsError):
    """Root of every error `movieviews up/down/status` reports to the operator."""


class MissingToolError(DeployError):
    pass


class PortTakenError(DeployError):
    pass


class ComponentDiedError(DeployError):
    pass


class NotReadyError(DeployError):
    pass


class FlinkError(DeployError):
    """`flink run/stop/cancel` or the JobManager's REST API failed; the message carries what it answered."""


class JarsMissingError(DeployError):
    """The connector jars are not where the job looks: run `movieviews up` to build them."""


class DrillError(DeployError):
    """A drill could not stage its fault (nothing to kill, events unacknowledged, no checkpoint)."""


class BenchmarkError(DeployError):
    """A benchmark could not establish what it measures against (its ground truth, its checkpoints)."""


class UsageError(DeployError):
    """Arguments that parse but do not go together (`--rate` without `--seconds`)."""
