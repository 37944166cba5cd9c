"""Everything one run of the job needs, built from `Settings` by the launcher and passed to `stream/job.py` as
command-line arguments (the job script runs under `flink run`, not under the `movieviews` entry point)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, fields

from deploy.paths import StatePaths
from deploy.settings import Settings

WRITER_ROLE = "mv_writer"
DEFAULT_GROUP_ID = "movieviews-stream"


@dataclass(frozen=True)
class JobConfig:
    name: str
    bootstrap: str
    views_topic: str
    movies_topic: str
    dlq_topic: str
    schemas_topic: str
    group_id: str
    jdbc_url: str
    parallelism: int
    # 0 turns checkpointing off (only the checkpoint-cost benchmark does; without it nothing is exactly-once).
    checkpoint_interval_ms: int
    flush_interval_ms: int
    checkpoint_dir: str
    # How long an applied event_id is remembered (processing time, stream/DEDUP.md); 0 turns the check off.
    dedup_window_s: int

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        name: str = "movieviews",
        group_id: str = DEFAULT_GROUP_ID,
        parallelism: int = 1,
        checkpoint_interval_ms: int | None = None,
        dedup_window_s: int | None = None,
    ) -> JobConfig:
        return cls(
            name=name,
            bootstrap=settings.kafka_bootstrap,
            views_topic=settings.views_topic,
            movies_topic=settings.movies_topic,
            dlq_topic=settings.dlq_topic,
            schemas_topic=settings.schemas_topic,
            group_id=group_id,
            jdbc_url=settings.writer_jdbc_url,
            parallelism=parallelism,
            checkpoint_interval_ms=(
                settings.checkpoint_interval_ms if checkpoint_interval_ms is None else checkpoint_interval_ms
            ),
            flush_interval_ms=settings.flush_interval_ms,
            checkpoint_dir=StatePaths(settings.home).checkpoints.as_uri(),
            dedup_window_s=settings.dedup_window_s if dedup_window_s is None else dedup_window_s,
        )

    def to_args(self) -> list[str]:
        args: list[str] = []
        for field in fields(self):
            args += [f"--{field.name.replace('_', '-')}", str(getattr(self, field.name))]
        return args

    @classmethod
    def from_args(cls, argv: Sequence[str]) -> tuple[JobConfig, argparse.Namespace]:
        """Returns the config and the remaining launcher options (`--jar`, `--from`)."""
        parser = argparse.ArgumentParser(prog="stream/job.py")
        for field in fields(cls):
            kind = int if field.type == "int" else str
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, required=True)
        parser.add_argument("--jar", action="append", default=[], help="connector jar to add (local runs)")
        parser.add_argument("--from", dest="restore", help="checkpoint or savepoint to restore (local runs)")
        args = parser.parse_args(argv)
        config = cls(**{field.name: getattr(args, field.name) for field in fields(cls)})
        return config, args
