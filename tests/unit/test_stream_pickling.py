"""The job ships `stream` by value (stream.job.run): what the TaskManager runs must work rebuilt that way."""

from __future__ import annotations

import json
import subprocess
import sys

import cloudpickle

import stream
from stream.taskmanager.deadletters import DeadLetter
from stream.taskmanager.state import FlushDue, MovieState, Views, apply


def test_state_rules_and_dead_letters_work_when_unpickled_by_value_in_a_fresh_interpreter() -> None:
    def transition_and_letter() -> tuple[object, str]:  # nested: pickled by value too
        state, _ = apply(MovieState("m"), Views("m", 2, 3, 1, 5))
        _, outputs = apply(state, FlushDue())
        return outputs, DeadLetter.of("undecodable", "bad", ("t", 0, 7), b"\x00").to_json()

    cloudpickle.register_pickle_by_value(stream)
    try:
        blob = cloudpickle.dumps(transition_and_letter)
    finally:
        cloudpickle.unregister_pickle_by_value(stream)
    script = (
        "import pickle, sys; outputs, letter = pickle.loads(sys.stdin.buffer.read())(); "
        "assert not [m for m in sys.modules if m.startswith('stream')], 'imported, not unpickled'; "
        "print(letter, outputs)"
    )
    run = subprocess.run([sys.executable, "-I", "-c", script], input=blob, capture_output=True, check=False)
    assert run.returncode == 0, run.stderr.decode()
    letter, outputs = run.stdout.decode().split(" ", 1)
    assert json.loads(letter)["reason"] == "undecodable" and json.loads(letter)["offset"] == 7
    assert "view_count=2" in outputs and "version=2" in outputs
