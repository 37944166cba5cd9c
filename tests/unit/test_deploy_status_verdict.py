"""`status` names the failure a restarting job keeps meeting (deploy.status_verdict.last_failure)."""

from __future__ import annotations

from deploy.status_verdict import last_failure


def sink_failure(rows: int) -> str:
    return (
        "org.apache.flink.runtime.taskmanager.AsynchronousException: Caught exception in a timer\n"
        "\tat org.apache.flink.streaming.runtime.tasks.StreamTask.handleAsyncException(StreamTask.java)\n"
        f"Caused by: java.io.IOException: upsert of {rows} rows failed 4 times (SQLSTATE 08001): \n"
        "Caused by: org.postgresql.util.PSQLException: Connection to 127.0.0.1:5433 refused.\n"
        "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java)\n"
    )


PYTHON_FAILURE = "pemja.core.PythonException: <class 'ValueError'>: a value the job could not take\n\tat x\n"


def test_a_job_failing_alike_each_time_is_named_with_its_root_cause_and_the_count_in_a_row() -> None:
    cause, alike = last_failure([PYTHON_FAILURE, sink_failure(133), sink_failure(7), sink_failure(1)])
    assert cause == "org.postgresql.util.PSQLException: Connection to 127.0.0.1:5433 refused."
    assert alike == 3


def test_a_failure_without_a_cause_is_named_by_its_first_line_and_a_different_one_ends_the_run() -> None:
    cause, alike = last_failure([PYTHON_FAILURE, sink_failure(3), PYTHON_FAILURE])
    assert cause == "pemja.core.PythonException: <class 'ValueError'>: a value the job could not take"
    assert alike == 1


def test_a_job_that_never_failed_has_no_failure_to_name() -> None:
    assert last_failure([]) == (None, 0)
