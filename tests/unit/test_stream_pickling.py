"""The job ships its packages by value (stream.job.SHIPPED): what the TaskManager runs must work rebuilt that
way, without importing any of them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import cloudpickle

from ground.kafka import KafkaAccess
from stream.errors import InvalidFieldValueError
from stream.job import SHIPPED
from stream.taskmanager.deadletters import DeadLetter
from stream.taskmanager.functions import DecodeBatch
from stream.taskmanager.state import FlushDue, MovieState, Views, apply

FIRST_PARTY = sorted(package.__name__ for package in SHIPPED)


def run_in_a_fresh_interpreter(function: Callable[[], object]) -> str:
    """What `function()` prints in an interpreter that unpickles it, having imported no first-party module."""
    for package in SHIPPED:
        cloudpickle.register_pickle_by_value(package)
    try:
        blob = cloudpickle.dumps(function)
    finally:
        for package in SHIPPED:
            cloudpickle.unregister_pickle_by_value(package)
    script = (
        "import pickle, sys; result = pickle.loads(sys.stdin.buffer.read())(); "
        f"imported = [m for m in sys.modules if m.split('.')[0] in {FIRST_PARTY}]; "
        "assert not imported, f'imported, not unpickled: {imported}'; print(result)"
    )
    run = subprocess.run([sys.executable, "-I", "-c", script], input=blob, capture_output=True, check=False)
    assert run.returncode == 0, run.stderr.decode()
    printed: bytes = run.stdout
    return printed.decode().strip()


def test_state_rules_and_dead_letters_work_when_unpickled_by_value_in_a_fresh_interpreter() -> None:
    def transition_and_letter() -> str:  # nested: pickled by value too
        state, _ = apply(MovieState("m"), Views("m", 2, 3, 1, 5))
        _, outputs = apply(state, FlushDue())
        return DeadLetter.of("undecodable", "bad", ("t", 0, 7), b"\x00").to_json() + " " + repr(outputs)

    letter, outputs = run_in_a_fresh_interpreter(transition_and_letter).split(" ", 1)
    assert json.loads(letter)["reason"] == "undecodable" and json.loads(letter)["offset"] == 7
    assert "view_count=2" in outputs and "version=2" in outputs


def test_an_error_class_new_to_a_long_lived_taskmanager_travels_with_the_job() -> None:
    # A TaskManager whose interpreter loaded an older `schemas` or `stream` must still find the classes the
    # job's functions raise: they travel with the job, so no first-party module is imported there.
    def invalid_field_reason() -> str:
        return InvalidFieldValueError.reason

    assert run_in_a_fresh_interpreter(invalid_field_reason) == "invalid_field"


def test_the_decoder_with_its_kafka_schema_resolver_rebuilds_in_a_fresh_interpreter() -> None:
    # The resolver's module holds confluent-kafka's classes, which say they are `cimpl`'s: copied by value,
    # they do not rebuild ("type object 'Consumer' has no attribute 'subscribe'").
    decode = DecodeBatch(KafkaAccess("127.0.0.1:1"), "schemas")

    def resolver_class() -> str:
        return f"{type(decode).__name__} {decode._kafka.bootstrap}"

    assert run_in_a_fresh_interpreter(resolver_class) == "DecodeBatch 127.0.0.1:1"
