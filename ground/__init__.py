"""The ground under every package: the project's root exception (and, in `ground.kafka`, the configuration
every Kafka client starts from).

A module of its own because the root sits under every package's root (SchemaError, IngestError, StreamError,
ReadModelError, DeployError) and the lowest package, `schemas`, must not own the others' root. It imports
nothing of the project, so anything may import it.
"""

from __future__ import annotations


class MovieviewsError(Exception):
    """Root of every error the project raises on purpose; a library error is wrapped with the bad value."""
