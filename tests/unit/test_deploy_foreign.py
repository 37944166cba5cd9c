"""Managed services off: what `up` says about a team's Kafka, from how each principal sees its topics (no
broker here: the brokers' answers are given)."""

from __future__ import annotations

from confluent_kafka.admin import AclOperation  # type: ignore[attr-defined]

from deploy import foreign
from deploy.settings import Settings
from ground.kafka import API, JOB
from ingest.topics import TopicAccess

SETTINGS = Settings.from_env(
    {
        "MOVIEVIEWS_MANAGED": "off",
        "MOVIEVIEWS_KAFKA_BOOTSTRAP": "k1:9093,k2:9093",
        "MOVIEVIEWS_VIEWS_TOPIC": "team-views",
        "MOVIEVIEWS_MOVIES_TOPIC": "team-movies",
        "MOVIEVIEWS_DLQ_TOPIC": "team-dlq",
        "MOVIEVIEWS_SCHEMAS_TOPIC": "team-schemas",
    }
)
READ, WRITE = AclOperation.READ, AclOperation.WRITE
PARTITIONS = {"team-views": 4, "team-movies": 4, "team-dlq": 1, "team-schemas": 1}


def granted() -> dict[str, dict[str, TopicAccess]]:
    """Each principal's view of its topics where the team granted everything the project's ACLs name."""
    return {
        user: {
            name: TopicAccess(PARTITIONS[name], frozenset(ops) | {AclOperation.DESCRIBE})
            for name, ops in topics.items()
        }
        for user, topics in foreign.needs(SETTINGS).items()
    }


def test_the_api_may_write_the_events_and_its_schema_and_the_job_read_them_and_write_dead_letters() -> None:
    assert foreign.needs(SETTINGS) == {
        API: {"team-views": {WRITE}, "team-movies": {WRITE}, "team-schemas": {WRITE}},
        JOB: {"team-views": {READ}, "team-movies": {READ}, "team-schemas": {READ}, "team-dlq": {WRITE}},
    }


def test_topics_granted_as_the_acls_say_are_no_problem() -> None:
    assert foreign.access_problems(SETTINGS, foreign.needs(SETTINGS), granted(), admin_given=False) == []


def test_a_principal_that_may_not_see_a_topic_gets_one_line_with_the_grant_it_lacks() -> None:
    seen = granted()
    seen[JOB]["team-dlq"] = TopicAccess(None, known=False)
    assert foreign.access_problems(SETTINGS, foreign.needs(SETTINGS), seen, admin_given=False) == [
        "kafka: movieviews-job may not write topic team-dlq: kafka-acls.sh --bootstrap-server "
        "k1:9093,k2:9093 --add --allow-principal User:movieviews-job --operation Write --topic team-dlq"
    ]


def test_a_principal_that_sees_a_topic_but_may_not_write_it_is_told_so() -> None:
    seen = granted()
    seen[API]["team-views"] = TopicAccess(4, frozenset({READ, AclOperation.DESCRIBE}))
    [problem] = foreign.access_problems(SETTINGS, foreign.needs(SETTINGS), seen, admin_given=True)
    assert problem.startswith("kafka: movieviews-api may not write topic team-views: ")
    assert problem.endswith("--allow-principal User:movieviews-api --operation Write --topic team-views")


def test_a_missing_topic_is_one_line_without_the_admin_and_the_admins_own_with_it() -> None:
    seen = granted()
    for user in (API, JOB):
        seen[user]["team-movies"] = TopicAccess(None)
    needed = foreign.needs(SETTINGS)
    assert foreign.access_problems(SETTINGS, needed, seen, admin_given=False) == [
        "kafka: topic team-movies does not exist: create it "
        "(4 partitions, retention.ms=-1, retention.bytes=-1, cleanup.policy=delete)"
    ]
    assert foreign.access_problems(SETTINGS, needed, seen, admin_given=True) == []


def test_a_topic_with_other_partitions_is_one_line_whichever_principals_saw_it() -> None:
    seen = granted()
    for user in (API, JOB):
        seen[user]["team-views"] = TopicAccess(2, seen[user]["team-views"].operations)
    assert foreign.access_problems(SETTINGS, foreign.needs(SETTINGS), seen, admin_given=False) == [
        "kafka: topic team-views has 2 partition(s) where 4 are declared: recreate it (4 partitions, "
        "retention.ms=-1, retention.bytes=-1, cleanup.policy=delete) or name another (its MOVIEVIEWS_*_TOPIC)"
    ]
