"""Errors of the deploy package: each says what failed and what to do about it, in one line."""

from __future__ import annotations


class DeployError(Exception):
    """Root of every error `movieviews up/down/status` reports to the operator."""


class MissingToolError(DeployError):
    pass


class PortTakenError(DeployError):
    pass


class ComponentDiedError(DeployError):
    pass


class NotReadyError(DeployError):
    pass


class FlinkCliError(DeployError):
    """`flink run/stop/cancel` failed; the message carries the CLI's last lines."""
