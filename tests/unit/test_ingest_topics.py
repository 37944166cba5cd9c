"""Creating topics when the brokers do not answer at once (no broker here: the admin client's answers are
given, one per attempt)."""

from __future__ import annotations

from concurrent.futures import Future

import pytest
from confluent_kafka import KafkaError, KafkaException

from ground.kafka import KafkaAccess
from ingest import topics
from ingest.errors import TopicError
from ingest.topics import TopicSpec

KAFKA = KafkaAccess("k1:9092")
SPECS = [TopicSpec("views", 4), TopicSpec("movies", 4)]


class Brokers:
    """An admin client whose n-th create answers each topic as `answers[n]` says (None: created)."""

    def __init__(self, *answers: dict[str, int | None]) -> None:
        self.answers = list(answers)
        self.asked: list[list[str]] = []

    def create_topics(self, new: list[object], **_timeouts: float) -> dict[str, Future[None]]:
        names = [t.topic for t in new]  # type: ignore[attr-defined]
        self.asked.append(names)
        answer = self.answers.pop(0)
        futures: dict[str, Future[None]] = {}
        for name in names:
            futures[name] = Future()
            code = answer.get(name)
            if code is None:
                futures[name].set_result(None)
            else:
                futures[name].set_exception(KafkaException(KafkaError(code)))
        return futures

    def describe_configs(self, resources: list[object]) -> dict[object, Future[dict[str, object]]]:
        done: Future[dict[str, object]] = Future()
        done.set_result({})
        return {resources[0]: done}


def test_a_create_left_unanswered_is_asked_again_and_the_topics_exist_once_the_brokers_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    brokers = Brokers(
        {"views": KafkaError.REQUEST_TIMED_OUT, "movies": KafkaError._TIMED_OUT},
        # The first request did make "views": asking again is answered "already exists".
        {"views": KafkaError.TOPIC_ALREADY_EXISTS},
    )
    monkeypatch.setattr(topics, "_admin", lambda kafka: brokers)
    assert topics.ensure_topics(KAFKA, SPECS, timeout_s=60) == []
    assert brokers.asked == [["views", "movies"], ["views", "movies"]]


def test_a_create_unanswered_until_the_deadline_names_the_topic_and_the_brokers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    brokers = Brokers({"views": KafkaError._TIMED_OUT})
    monkeypatch.setattr(topics, "_admin", lambda kafka: brokers)
    with pytest.raises(TopicError, match=r"cannot create topic 'views' on k1:9092: .*_TIMED_OUT"):
        topics.ensure_topics(KAFKA, SPECS[:1], timeout_s=0)


def test_a_refusal_other_than_a_timeout_is_not_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    brokers = Brokers({"views": KafkaError.INVALID_REPLICATION_FACTOR})
    monkeypatch.setattr(topics, "_admin", lambda kafka: brokers)
    with pytest.raises(TopicError, match=r"cannot create topic 'views' on k1:9092: .*INVALID_REPLICATION"):
        topics.ensure_topics(KAFKA, SPECS[:1], timeout_s=60)
    assert brokers.asked == [["views"]]
