"""What resolvers need, handed to every operation as its context."""

from __future__ import annotations

from dataclasses import dataclass, field

from readmodel.apikeys import Principal
from readmodel.commands import Commands
from readmodel.live import Hub
from readmodel.pipeline import PipelineProbe
from readmodel.store import MovieStatsStore


@dataclass(frozen=True)
class ReadModelContext:
    store: MovieStatsStore
    commands: Commands
    top_limit_max: int
    # Subscriptions' live feeds; tests that only query need none of their own.
    hub: Hub = field(default_factory=Hub)
    pipeline: PipelineProbe | None = None
    # The request's verified API key (readmodel.guard); None for an anonymous request.
    principal: Principal | None = None
