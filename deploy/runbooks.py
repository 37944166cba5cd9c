"""The one-line runbook hint `movieviews status` prints under an unhealthy component: what to look at
first, and the section of docs/OPERATIONS.md that says the rest (the sections the alert rules' `runbook_url`
annotations name)."""

from __future__ import annotations

from dataclasses import dataclass

from deploy.stack import Health

RUNBOOKS = "docs/OPERATIONS.md"


@dataclass(frozen=True)
class Hint:
    component: str
    # How the component's detail starts in this condition ("" for any): the job's detail opens with its
    # problems in deploy/status_verdict.py's order (state, checkpoint, read model), the API's with the call it
    # made.
    starts: str
    section: str
    line: str


HINTS = (
    Hint(
        "kafka",
        "",
        "kafka-broker-down",
        "the supervisor restarts it; if it stays down, read .state/logs/kafka.log",
    ),
    Hint(
        "retention",
        "",
        "topic-retention-changed",
        "`deploy/movieviews up` sets the event topics back to forever",
    ),
    Hint("flink", "", "targetdown", "read the flink-jobmanager and flink-taskmanager lines and their logs"),
    Hint(
        "postgres",
        "",
        "postgres-down",
        "the supervisor restarts it; if it stays down, read .state/logs/postgres.log",
    ),
    Hint("prometheus", "", "targetdown", "no alert is evaluated meanwhile; read .state/logs/prometheus.log"),
    Hint(
        "api",
        "GET /readyz: ",
        "api-not-ready",
        "it names what it cannot reach: see the postgres and kafka lines",
    ),
    Hint("api", "", "api-not-ready", "its program line says why; `deploy/movieviews up` starts it"),
    Hint(
        "job",
        "no job named",
        "no-job-running",
        "`deploy/movieviews up` resubmits it from its newest restore point",
    ),
    Hint(
        "job",
        "state ",
        "jobrestarting",
        "its failures: curl -s 127.0.0.1:8081/jobs/JOB_ID/exceptions; the same one at each restore is a "
        "poison record or a restore loop",
    ),
    Hint(
        "job",
        "no checkpoint completed",
        "checkpointtooold",
        "why checkpoints fail: curl -s 127.0.0.1:8081/jobs/JOB_ID/checkpoints; a full heap or disk?",
    ),
    Hint(
        "job",
        "read model",
        "readmodelstale",
        "is Postgres slow or down, or the job behind? see the postgres line",
    ),
    Hint("job", "", "where-to-look", "its figures could not be read: see the flink and postgres lines"),
    Hint(
        "supervisor",
        "",
        "supervisor-down-or-a-program-given-up",
        "read the log of a program it gave up on, then `up`",
    ),
)


def hint(health: Health) -> str | None:
    """The line for an unhealthy component, None for a healthy one or one without a hint."""
    if health.ok:
        return None
    for each in HINTS:
        if each.component == health.component and health.detail.startswith(each.starts):
            return f"{each.line} ({RUNBOOKS}#{each.section})"
    return f"see {RUNBOOKS}#where-to-look"
