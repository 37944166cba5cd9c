"""Everything one run of the job needs. `deploy` builds it from its settings and hands it to `stream.job.run`
(through the job script's arguments when the job runs under `flink run`)."""

from __future__ import annotations

from dataclasses import dataclass

WRITER_ROLE = "mv_writer"
DEFAULT_GROUP_ID = "movieviews-stream"
# The stack's own job: `up` submits it, `down` stops it, `job` acts on it unless told another name, and the
# API's pipeline probe watches it. That is the name of the job writing slot 1 of the read model; slot 2's is
# `movieviews-v2` (`slot_job_name`).
JOB_NAME = "movieviews"
# Flink's `state.backend.type` values the job runs on (stream/topology.py says when to pick which).
STATE_BACKENDS = ("hashmap", "rocksdb")


def slot_job_name(base: str, slot: int) -> str:
    """The job writing read-model slot `slot`: `base` for slot 1, `<base>-v<slot>` otherwise. A rebuild runs
    its job under the name of the slot it builds, and that job stays the live one once readers switch to that
    slot: the slot the views read (in Postgres, switched in one transaction) records which job is live."""
    return base if slot == 1 else f"{base}-v{slot}"


@dataclass(frozen=True)
class JobConfig:
    name: str
    bootstrap: str
    # The secrets directory of the job's Kafka principal (ground.kafka.Credentials.load); empty: plaintext.
    # A path, not the password: the arguments of a job show in Flink's web UI.
    kafka_secrets: str
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
    # 1: the trending windows (stream/taskmanager/trending.py) run and write movie_trending; 0: off (the
    # benchmark's comparison). An int because the job's arguments are ints and strings.
    trending: int
    # The read-model version (slot) the job writes (stream.upsert.stats_table/trending_table): the live job
    # writes the one the API reads, a rebuild the other (deploy/rebuild.py).
    stats_table: str
    trending_table: str
    # One of STATE_BACKENDS; rocksdb checkpoints incrementally.
    state_backend: str
