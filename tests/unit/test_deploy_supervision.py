"""The supervisor's config and the programs it runs, its restart log and the crash leftovers, without any
service."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import leftovers, stack, supervisor
from deploy.paths import StatePaths
from deploy.postgres import server as postgres
from deploy.settings import Settings
from deploy.supervisor import Program, SupervisorError


def test_programs_start_in_list_order_and_only_when_up_asks(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    programs = [
        Program("postgres", ["pg", "-c", "a=50%"], tmp_path / "pg", stop_signal="INT"),
        Program("kafka", ["java", "-cp", "libs/*"], tmp_path / "k", {"KAFKA_HEAP_OPTS": "-Xmx512m"}),
    ]
    conf = supervisor.render(programs, paths)
    assert conf.index("[program:postgres]") < conf.index("[program:kafka]")
    assert "priority=10" in conf.split("[program:kafka]")[0]
    assert "priority=20" in conf.split("[program:kafka]")[1]
    assert "command=pg -c a=50%%" in conf  # supervisord expands %(x)s: a literal percent is doubled
    assert "command=java -cp 'libs/*'" in conf
    assert 'environment=KAFKA_HEAP_OPTS="-Xmx512m"' in conf
    assert conf.count("autostart=false") == 2
    assert "stopsignal=INT" in conf
    assert f"[eventlistener:{supervisor.LISTENER}]" in conf


def test_an_environment_value_supervisord_cannot_quote_is_refused_with_its_name(tmp_path: Path) -> None:
    program = Program("api", ["serve"], tmp_path, {"SECRET": 'a"b'})
    with pytest.raises(SupervisorError, match="SECRET"):
        supervisor.render([program], StatePaths(tmp_path))


@pytest.mark.parametrize(
    ("event", "payload", "what"),
    [
        (
            "PROCESS_STATE_EXITED",
            "processname:kafka groupname:kafka from_state:RUNNING expected:0 pid:7",
            "exited",
        ),
        ("PROCESS_STATE_BACKOFF", "processname:api groupname:api from_state:STARTING tries:1", "failed"),
        ("PROCESS_STATE_FATAL", "processname:api groupname:api from_state:BACKOFF", "gave up"),
    ],
)
def test_a_crash_is_logged_with_program_and_kind(event: str, payload: str, what: str) -> None:
    line = supervisor.crash(event, payload)
    assert line is not None
    assert line["program"] == payload.split()[0].split(":")[1]
    assert line["what"].startswith(what)


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("PROCESS_STATE_EXITED", "processname:kafka groupname:kafka from_state:RUNNING expected:1 pid:7"),
        ("PROCESS_STATE_STARTING", "processname:kafka groupname:kafka from_state:STOPPED tries:0"),
        ("PROCESS_STATE_STOPPED", "processname:kafka groupname:kafka from_state:STOPPING pid:7"),
    ],
)
def test_starts_and_deliberate_stops_are_no_crashes(event: str, payload: str) -> None:
    assert supervisor.crash(event, payload) is None


def test_restarts_are_counted_per_program_with_the_last_one(tmp_path: Path) -> None:
    log = tmp_path / "restarts.jsonl"
    lines = [
        {"time": "t1", "program": "kafka", "what": "exited unexpectedly", "pid": "1"},
        {"time": "t2", "program": "kafka", "what": "failed to start", "pid": ""},
        {"time": "t3", "program": "postgres", "what": "exited unexpectedly", "pid": "2"},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert supervisor.restart_counts(log) == {
        "kafka": (2, "t2 failed to start"),
        "postgres": (1, "t3 exited unexpectedly"),
    }
    assert supervisor.restart_counts(tmp_path / "missing") == {}


def test_a_process_working_in_a_stack_folder_is_a_leftover_and_is_cleared(tmp_path: Path) -> None:
    ours, other = tmp_path / "kafka", tmp_path / "elsewhere"
    ours.mkdir()
    other.mkdir()
    mine = subprocess.Popen(["sleep", "60"], cwd=ours)
    theirs = subprocess.Popen(["sleep", "60"], cwd=other)
    try:
        found = leftovers.find([ours])
        assert [each.pid for each in found] == [mine.pid]
        assert found[0].command == "sleep 60"
        leftovers.clear(found, grace_s=5)
        assert mine.wait(5) is not None
        assert theirs.poll() is None
    finally:
        for proc in (mine, theirs):
            proc.kill()
            proc.wait()


SINGLE = ["postgres", "kafka", "flink-jobmanager", "flink-taskmanager", "api", "prometheus"]
CLUSTER = [
    "postgres",
    "kafka",
    "kafka-2",
    "kafka-3",
    "zookeeper",
    "flink-jobmanager",
    "flink-jobmanager-2",
    "flink-taskmanager",
    "flink-taskmanager-2",
    "api",
]


@pytest.mark.parametrize(("profile", "expected"), [("single", SINGLE), ("cluster", CLUSTER)])
def test_the_stack_runs_its_components_programs_in_start_order_with_the_api_before_prometheus(
    tmp_path: Path, profile: str, expected: list[str]
) -> None:
    settings = Settings.from_env({"MOVIEVIEWS_HOME": str(tmp_path)}, profile)
    assert [program.name for program in stack.programs(settings, StatePaths(tmp_path))] == expected


def test_postgres_runs_behind_a_launcher_module_that_exists(tmp_path: Path) -> None:
    settings = Settings.from_env({"MOVIEVIEWS_HOME": str(tmp_path)})
    [program] = postgres.programs(settings, StatePaths(tmp_path))
    assert program.argv[1:3] == ["-m", "deploy.postgres.launcher"]
    assert importlib.util.find_spec(program.argv[2]) is not None


def test_the_listener_supervisord_runs_appends_each_crash_to_the_restart_log(tmp_path: Path) -> None:
    log = tmp_path / "restarts.jsonl"
    payload = "processname:kafka groupname:kafka from_state:RUNNING expected:0 pid:7"
    argv = [sys.executable, "-m", "deploy.supervisor", str(log)]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as listener:
        assert listener.stdin is not None and listener.stdout is not None
        assert listener.stdout.readline() == "READY\n"
        listener.stdin.write(f"ver:3.0 eventname:PROCESS_STATE_EXITED len:{len(payload)}\n{payload}")
        listener.stdin.flush()
        assert listener.stdout.read(len("RESULT 2\nOK")) == "RESULT 2\nOK"
        listener.stdin.close()  # supervisord is gone: the listener ends
        assert listener.wait(10) == 0
    [line] = [json.loads(each) for each in log.read_text().splitlines()]
    assert (line["program"], line["what"], line["pid"]) == ("kafka", "exited unexpectedly", "7")
