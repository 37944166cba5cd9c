"""Drills of the cluster profile: a Kafka node, the leading JobManager or a TaskManager killed under load,
and a rescale; each checks the counts against ground truth, per movie, like every drill."""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter

from deploy.drills import scenarios, steps
from deploy.drills.steps import DrillReport
from deploy.errors import DrillError
from deploy.flink import standalone
from deploy.kafka import broker
from deploy.sandbox import Sandbox
from deploy.settings import Settings
from deploy.wait import wait_until
from ingest.loadgen import LoadResult
from stream import flinkrest
from stream.errors import FlinkRestError

# New partition leaders come from the in-sync replicas within seconds (KRaft); 60 s is for a loaded box.
LEADER_TIMEOUT_S = 60
# The supervisor restarts the killed node (its ports free within seconds); it then copies what it missed.
CATCH_UP_TIMEOUT_S = 240
# ZooKeeper notices the dead leader when its session times out (60 s by Flink's default), then the standby
# recovers the job from the HA store; restoring it onto the TaskManagers takes a while on a loaded machine.
FAILOVER_TIMEOUT_S = 300


def broker_kill(base: Settings) -> DrillReport:
    """kill -9 of the node leading most of the views topic's partitions while acks=all producers write."""
    started = time.monotonic()
    with Sandbox(base, "broker-kill") as env:
        env.submit()
        topic = env.settings.views_topic
        load = steps.load(env)  # its producers ride out the leader change: no event may time out
        time.sleep(random.uniform(2, steps.SECONDS / 2))  # the random moment of the crash
        leaders = broker.leaders(env.settings, topic)
        victim, led = Counter(leaders.values()).most_common(1)[0]
        node = broker.node_of(base, victim)
        steps.kill9(env, node.program)
        killed_at = time.monotonic()

        def moved() -> bool:
            now = broker.leaders(env.settings, topic).values()
            return victim not in now and -1 not in now

        wait_until(moved, LEADER_TIMEOUT_S, f"new leaders for the partitions node {victim} led")
        moved_s = time.monotonic() - killed_at
        wait_until(lambda: not broker.under_replicated(env.settings, topic), CATCH_UP_TIMEOUT_S, "full ISR")
        in_sync_s = time.monotonic() - killed_at
        result: LoadResult = load.result()
        notes = [
            f"killed node {victim} ({node.program}), leader of {led}/{len(leaders)} partitions",
            f"leaders moved in {moved_s:.1f}s; node back and in sync after {in_sync_s:.1f}s",
        ]
        return steps.finish(env, "broker-kill", started, result.per_movie, moved_s, notes)


def jobmanager_failover(base: Settings) -> DrillReport:
    """kill -9 of the leading JobManager: the standby takes the job over from ZooKeeper and its checkpoint;
    nothing is resubmitted."""
    started = time.monotonic()
    with Sandbox(base, "jobmanager-failover") as env:
        job_id = env.submit()
        load = steps.load(env)
        wait_until(lambda: steps.has_checkpoint(env), 60, "a first retained checkpoint")
        time.sleep(random.uniform(2, 8))  # the random moment of the crash
        leader = standalone.leading_jobmanager(base, env.paths)
        standby = next(jm for jm in standalone.jobmanagers(base) if jm != leader)
        steps.kill9(env, leader.name)
        killed_at, killed_ms = time.monotonic(), time.time() * 1000
        # Asked through the standby: the killed one's REST is gone until the supervisor restarts it.
        env.settings = dataclasses.replace(env.settings, flink_rest=standby.rest)

        def restored() -> bool:
            try:
                return flinkrest.restored_since(env.settings, job_id, killed_ms)
            except FlinkRestError:  # no leader yet, or the job not recovered yet
                return False

        wait_until(restored, FAILOVER_TIMEOUT_S, f"job {job_id} restored by {standby.name}")
        wait_until(lambda: flinkrest.tasks_running(env.settings, job_id), 120, "every task running again")
        recover_s = time.monotonic() - killed_at
        now_leading = standalone.leading_jobmanager(base, env.paths)
        if now_leading != standby:
            raise DrillError(f"{now_leading.name} leads after the kill of {leader.name}, not the standby")
        result: LoadResult = load.result()
        notes = [f"killed {leader.name}; {standby.name} leads and restored job {job_id} (same id)"]
        return steps.finish(env, "jobmanager-failover", started, result.per_movie, recover_s, notes)


DRILLS: dict[str, steps.Drill] = {
    "broker-kill": broker_kill,
    "jobmanager-failover": jobmanager_failover,
    "taskmanager-kill": scenarios.taskmanager_kill,
    "rescale": scenarios.rescale,
}
