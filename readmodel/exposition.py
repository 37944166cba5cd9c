"""The /metrics endpoint: every worker's metrics (readmodel.metrics) plus figures measured when scraped.

`movieviews serve` points `PROMETHEUS_MULTIPROC_DIR` at an emptied folder before any worker imports
prometheus_client: each worker then writes its samples to files there, and whichever worker answers a
scrape sums them all (prometheus_client's multiprocess mode). Without the variable (tests, one process) the
default registry serves them.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from confluent_kafka import KafkaException
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from readmodel.errors import DatabaseUnavailableError
from readmodel.health import KafkaProbe
from readmodel.metrics import PENDING
from readmodel.store import MovieStatsStore
from stream.config import slot_job_name
from stream.errors import LagError
from stream.lag import group_of
from stream.upsert import SLOTS

# prometheus_client's own variable: `movieviews serve` sets it before any worker imports prometheus_client.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Flink's Prometheus reporter writes every other character of a label value as "_" (movie-views: movie_views).
FLINK_LABEL_VALUE = re.compile(r"[^a-zA-Z0-9_]")


Lags = dict[str, dict[tuple[str, int], int]]


class _Pipeline(Collector):
    """Figures measured when scraped, by whichever worker answers: the read model's freshness (now minus the
    newest snapshot's `updated_at`), the log end offset of each partition of the event topics, and each
    job's lag per partition (`stream.lag`: the log end minus its group's committed offset), keyed by job
    name (names and topics as Flink's reporter writes them, so the rules join them with the job's series)."""

    def __init__(
        self, newest: datetime | None, end_offsets: dict[tuple[str, int], int], lags: Lags | None = None
    ) -> None:
        self._newest = newest
        self._end_offsets = end_offsets
        self._lags = lags or {}

    def collect(self) -> list[GaugeMetricFamily]:
        ends = GaugeMetricFamily(
            "movieviews_kafka_log_end_offset",
            "Offset the next record of each event-topic partition gets (topic as Flink's reporter writes it)",
            labels=["topic", "partition"],
        )
        for (topic, partition), offset in sorted(self._end_offsets.items()):
            ends.add_metric([FLINK_LABEL_VALUE.sub("_", topic), str(partition)], offset)
        lags = GaugeMetricFamily(
            "movieviews_job_lag_records",
            "Records of each event-topic partition past the offset the job's group committed at its last "
            "checkpoint",
            labels=["job_name", "topic", "partition"],
        )
        for job, behind in sorted(self._lags.items()):
            for (topic, partition), records in sorted(behind.items()):
                labels = [FLINK_LABEL_VALUE.sub("_", job), FLINK_LABEL_VALUE.sub("_", topic), str(partition)]
                lags.add_metric(labels, records)
        if self._newest is None:
            return [ends, lags]
        newest = self._newest.timestamp()
        return [
            ends,
            lags,
            GaugeMetricFamily(
                "movieviews_readmodel_newest_snapshot_timestamp_seconds",
                "updated_at of the newest row in movie_stats (Unix time)",
                value=newest,
            ),
            GaugeMetricFamily(
                "movieviews_readmodel_freshness_seconds",
                "Now minus the newest snapshot's updated_at",
                value=max(0.0, time.time() - newest),
            ),
        ]


class _Disk(Collector):
    """Available and total bytes of the filesystem holding `folder` (the job's checkpoints), measured when
    scraped, named as node_exporter names them: the stack runs no node exporter, and a full disk fails every
    checkpoint (rules.yml: StateDiskLow). Available is what an unprivileged writer may still use."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def collect(self) -> list[GaugeMetricFamily]:
        try:
            usage = shutil.disk_usage(self._folder)
        except OSError:  # not made yet, or gone: no figure, as for an outage
            return []
        found = []
        for name, meaning, value in (
            ("avail", "Bytes an unprivileged process may still write", usage.free),
            ("size", "Size in bytes", usage.total),
        ):
            family = GaugeMetricFamily(
                f"movieviews_filesystem_{name}_bytes",
                f"{meaning} on the filesystem of `path`",
                labels=["path"],
            )
            family.add_metric([str(self._folder)], value)
            found.append(family)
        return found


def exposition(
    newest_snapshot: datetime | None,
    end_offsets: dict[tuple[str, int], int],
    disk: Path | None = None,
    lags: Lags | None = None,
) -> bytes:
    """The text exposition of every worker's metrics plus the figures measured now (`_Pipeline`, and the
    free space of `disk`'s filesystem when given)."""
    PENDING.flush()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    freshness = CollectorRegistry(auto_describe=False)
    freshness.register(_Pipeline(newest_snapshot, end_offsets, lags))
    if disk is not None:
        freshness.register(_Disk(disk))
    return generate_latest(registry) + generate_latest(freshness)


def endpoint(
    store: MovieStatsStore,
    kafka: KafkaProbe,
    topics: list[str],
    disk: Path | None = None,
    lineage: str | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """With `lineage`, the lag of each of its slots' jobs is exported (a job that runs no more keeps its
    group's offsets for days: the rules keep only the lag of jobs Flink reports)."""
    jobs = [] if lineage is None else [slot_job_name(lineage, slot) for slot in SLOTS]

    async def metrics(request: Request) -> Response:
        # An outage leaves its figure out of this scrape; /readyz and the alert rules tell of the outage.
        try:
            _, newest = await store.totals()
        except DatabaseUnavailableError:
            newest = None
        try:
            ends = await kafka.end_offsets(topics)
        except (KafkaException, TimeoutError):
            ends = {}
        lags: Lags = {}
        for job in jobs:
            try:
                lags[job] = await asyncio.to_thread(kafka.lag, group_of(job), topics)
            except LagError:
                continue
        return Response(exposition(newest, ends, disk, lags), media_type=CONTENT_TYPE)

    return metrics
