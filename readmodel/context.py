"""What resolvers need, handed to every operation as its context."""

from __future__ import annotations

from dataclasses import dataclass

from readmodel.commands import Commands
from readmodel.store import MovieStatsStore


@dataclass(frozen=True)
class ReadModelContext:
    store: MovieStatsStore
    commands: Commands
    top_limit_max: int
