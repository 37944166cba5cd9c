"""Settings, the drill verdict and the CLI, without any service."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import procs
from deploy.bench.cli import BENCHMARKS
from deploy.cli import COMMANDS, build_parser, main
from deploy.errors import PortTakenError
from deploy.flink.checkpoints import latest_restore_point
from deploy.sandbox import compare
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


# One command line per subcommand and action, each option given a value that is not its default; what the
# parser must make of it, and the function it dispatches to (module.name).
PARSED: list[tuple[list[str], str, dict[str, object]]] = [
    (["up", "--stack-only", "--demo"], "deploy.cli.up.run", {"stack_only": True, "demo": True}),
    (["down", "--profile", "cluster"], "deploy.cli.down.run", {"profile": "cluster"}),
    (["status", "--json"], "deploy.cli.status.run", {"json": True}),
    (["logs", "--tail", "5"], "deploy.cli.logs.run", {"tail": 5}),
    (["migrate", "0003", "--check"], "deploy.cli.migrate.run", {"revision": "0003", "check": True}),
    (["schemas", "check", "--dir", "/s"], "deploy.cli.schemas.check_gate", {"dir": Path("/s")}),
    (["schemas", "list"], "deploy.cli.schemas.list_schemas", {}),
    (
        ["produce", "--rate", "10", "--seconds", "2", "--movies", "5", "--v2-share", "0.5", "--zipf", "1.3"],
        "deploy.cli.produce.run",
        {"rate": 10.0, "seconds": 2.0, "events": None, "movies": 5, "v2_share": 0.5, "zipf": 1.3},
    ),
    (
        [
            "produce",
            "--events",
            "7",
            "--topic",
            "t",
            "--truth",
            "/t.json",
            "--movie-prefix",
            "x-",
            "--seed",
            "3",
        ],
        "deploy.cli.produce.run",
        {"events": 7, "rate": None, "topic": "t", "truth": Path("/t.json"), "movie_prefix": "x-", "seed": 3},
    ),
    (
        ["job", "submit", "--from", "/sp", "--parallelism", "2", "--name", "n", "--group-id", "g"],
        "deploy.cli.job._submit",
        {"restore": "/sp", "parallelism": 2, "name": "n", "group_id": "g"},
    ),
    (["job", "run-local", "--parallelism", "1"], "deploy.cli.job._run_local", {"parallelism": 1}),
    (["job", "stop", "--savepoint", "--name", "n"], "deploy.cli.job._stop", {"savepoint": True, "name": "n"}),
    (["job", "status"], "deploy.cli.job._status", {}),
    (
        ["rebuild", "--accept-changes", "--timeout", "60"],
        "deploy.cli.rebuild.run",
        {"accept_changes": True, "timeout": 60.0, "rollback": False, "drop_old": False},
    ),
    (["rebuild", "--rollback"], "deploy.cli.rebuild.run", {"rollback": True, "drop_old": False}),
    (["rebuild", "--drop-old"], "deploy.cli.rebuild.run", {"rollback": False, "drop_old": True}),
    (
        ["serve", "--host", "0.0.0.0", "--port", "9", "--workers", "3"],
        "deploy.cli.serve.run",
        {"host": "0.0.0.0", "port": 9, "workers": 3},
    ),
    (
        ["keys", "create", "--name", "ci", "--scope", "views:write", "--scope", "admin", "--rate", "5"],
        "deploy.cli.keys._create",
        {"name": "ci", "scope": ["views:write", "admin"], "rate": 5},
    ),
    (["keys", "list"], "deploy.cli.keys._list", {}),
    (["keys", "revoke", "k1"], "deploy.cli.keys._revoke", {"key_id": "k1"}),
    (["demo", "--rounds", "2", "--views", "3"], "deploy.cli.demo.run", {"rounds": 2, "views": 3}),
    (
        ["drill", "kafka-restart", "postgres-restart", "--json", "r.json"],
        "deploy.drills.cli.run",
        {"name": ["kafka-restart", "postgres-restart"], "json": "r.json"},
    ),
    (["dlq", "show", "--recent", "3"], "deploy.cli.dlq._show", {"recent": 3}),
    (["dlq", "replay", "--reason", "unknown-schema"], "deploy.cli.dlq._replay", {"reason": "unknown-schema"}),
    *[(["bench", name], f"{module}.run", {}) for name, (module, _) in BENCHMARKS.items()],
]


@pytest.mark.parametrize(("argv", "run", "expected"), PARSED, ids=[" ".join(a) for a, _, _ in PARSED])
def test_each_subcommand_parses_its_own_arguments(
    argv: list[str], run: str, expected: dict[str, object]
) -> None:
    args = build_parser(argv[0]).parse_args(argv)
    assert f"{args.run.__module__}.{args.run.__name__}" == run
    assert {name: getattr(args, name) for name in expected} == expected


def test_every_subcommand_and_action_has_a_parsed_command_line() -> None:
    covered = {
        tuple(argv[:2]) if argv[0] in {"schemas", "job", "keys", "dlq", "bench"} else (argv[0],)
        for argv, _, _ in PARSED
    }
    assert {argv[0] for argv in covered} == set(COMMANDS)
    actions = {
        ("schemas", "check"),
        ("schemas", "list"),
        ("job", "submit"),
        ("job", "run-local"),
        ("job", "stop"),
        ("job", "status"),
        ("keys", "create"),
        ("keys", "list"),
        ("keys", "revoke"),
        ("dlq", "show"),
        ("dlq", "replay"),
        *(("bench", name) for name in BENCHMARKS),
    }
    assert actions <= covered


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (
            ["rebuild", "--rollback", "--drop-old"],
            "argument --drop-old: not allowed with argument --rollback",
        ),
        (["keys", "create"], "the following arguments are required: --name"),
        (["keys", "create", "--name", "n", "--scope", "root"], "argument --scope: invalid choice: 'root'"),
        (["drill", "no-such-drill"], "argument name: invalid choice: 'no-such-drill'"),
        (["produce", "--events", "1", "--rate", "2"], "argument --rate: not allowed with argument --events"),
        (["logs", "--tail", "many"], "argument --tail: invalid int value: 'many'"),
        (["dlq", "replay"], "the following arguments are required: --reason"),
        (["up", "--profile", "huge"], "argument --profile: invalid choice: 'huge'"),
    ],
)
def test_a_bad_command_line_is_refused_naming_the_argument(
    argv: list[str], refusal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser(argv[0]).parse_args(argv)
    assert exited.value.code == 2
    assert refusal in capsys.readouterr().err


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
