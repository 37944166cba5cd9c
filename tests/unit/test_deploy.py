"""Settings, the drill verdict and the CLI, without any service."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import procs
from deploy.cli import build_parser, main
from deploy.drills.harness import compare
from deploy.errors import PortTakenError
from deploy.flink.checkpoints import latest_restore_point
from deploy.settings import ConfigError, Settings


def test_settings_defaults_give_a_local_stack() -> None:
    settings = Settings.from_env({})
    assert (settings.kafka_bootstrap, settings.pg_port, settings.flink_rest_port) == (
        "127.0.0.1:9092",
        5433,
        8081,
    )
    assert settings.reader_url.startswith("postgresql+asyncpg://mv_reader:")


def test_settings_read_their_declared_variables() -> None:
    settings = Settings.from_env({"MOVIEVIEWS_PG_PORT": "6000", "MOVIEVIEWS_VIEWS_TOPIC": "v"})
    assert (settings.pg_port, settings.views_topic) == (6000, "v")


def test_settings_travel_to_another_process_through_the_environment() -> None:
    settings = Settings.from_env({"MOVIEVIEWS_JSON_LOGS": "on", "MOVIEVIEWS_PG_PORT": "6000"})
    assert Settings.from_env(settings.to_env()) == settings
    assert Settings.from_env(Settings.from_env({}).to_env()).json_logs is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MOVIEVIEWS_PG_PORT": "five"}, "Config 'MOVIEVIEWS_PG_PORT' must be an integer, got 'five'"),
        ({"MOVIEVIEWS_KAFKA_BOOTSTRAP": ""}, "Config 'MOVIEVIEWS_KAFKA_BOOTSTRAP' is missing"),
        (
            {"MOVIEVIEWS_STATE_BACKEND": "rocks"},
            r"Config 'MOVIEVIEWS_STATE_BACKEND' must be one of \('hashmap', 'rocksdb'\), got 'rocks'",
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_verdict_counts_lost_and_double_counted_per_movie() -> None:
    verdict = compare({"a": 5, "b": 3, "c": 1}, {"a": 5, "b": 4, "d": 2})
    assert (verdict.events, verdict.movies, verdict.lost, verdict.double_counted) == (9, 3, 1, 3)
    assert verdict.wrong_movies == 3
    assert not verdict.exact
    assert compare({"a": 1}, {"a": 1}).exact


def test_taken_port_names_the_port_and_component() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortTakenError, match=f"port {port} needed by Kafka is taken by"):
            procs.ensure_port_free(port, "Kafka")


def test_newest_complete_restore_point_wins(tmp_path: Path) -> None:
    checkpoints, savepoints = tmp_path / "chk", tmp_path / "sp"
    job = "ab12cd" + "0" * 26
    for folder in (
        checkpoints / job / "chk-1",
        checkpoints / job / "chk-2",
        savepoints / "savepoint-ab12cd-x",
    ):
        folder.mkdir(parents=True)
    (checkpoints / job / "chk-1" / "_metadata").write_text("")
    (savepoints / "savepoint-ab12cd-x" / "_metadata").write_text("")
    os.utime(checkpoints / job / "chk-1" / "_metadata", (1_000, 1_000))
    assert latest_restore_point(checkpoints, savepoints, job) == savepoints / "savepoint-ab12cd-x"
    assert latest_restore_point(checkpoints, savepoints, "f" * 32) is None


def test_each_subcommand_parses_its_own_arguments() -> None:
    args = build_parser("up").parse_args(["up", "--stack-only"])
    assert (args.command, args.stack_only) == ("up", True)


def test_status_with_nothing_running_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    dead = Settings.from_env(
        {
            "MOVIEVIEWS_KAFKA_BOOTSTRAP": "127.0.0.1:1",
            "MOVIEVIEWS_PG_PORT": "2",
            "MOVIEVIEWS_FLINK_REST": "http://127.0.0.1:3",
            "MOVIEVIEWS_PROMETHEUS_PORT": "4",
        }
    )
    assert main(["status"], dead) == 1
    out = capsys.readouterr().out
    assert "kafka      UNHEALTHY" in out
    assert "prometheus UNHEALTHY" in out
    assert "nothing is running: start the stack with `deploy/movieviews up`" in out


def test_a_failing_command_says_what_failed_in_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["produce", "--rate", "10"], Settings.from_env({})) == 2
    captured = capsys.readouterr()
    assert captured.err == "movieviews produce: --rate needs --seconds\n" and captured.out == ""


# A command whose run() sends itself SIGTERM, registered in a child process; prints when its cleanup runs.
SIGTERMED_COMMAND = """
import os, signal, sys, time, types
import deploy.cli as cli

def add_arguments(parser):
    parser.set_defaults(run=run)

def run(args, settings):
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    finally:
        print("scratch deleted", flush=True)
    return 0

sys.modules["sigterm_command"] = types.SimpleNamespace(add_arguments=add_arguments)
cli.COMMANDS["sigterm-me"] = ("sigterm_command", "test")
sys.argv = ["movieviews", "sigterm-me"]
sys.exit(cli.entry())
"""


def test_a_command_stopped_by_sigterm_runs_its_cleanup_and_exits_143() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGTERMED_COMMAND], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (143, "scratch deleted\n"), done.stderr
