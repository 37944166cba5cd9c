"""librdkafka's own lines reach a command's output only through `logging` (`ground.kafka`): never raw
(`%3|...|FAIL|rdkafka#producer-N| ...`), warnings and errors only, each distinct one once a minute."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

from deploy.settings import REPO_ROOT, Settings

RAW_RDKAFKA_LINE = re.compile(r"^%\d\|", re.MULTILINE)
# A producer polled for 3 s against a port nothing listens on, logging as the CLI configures it.
REFUSED = """
import logging.config, sys
from confluent_kafka import Producer
from ground.kafka import KafkaAccess, client_config
from readmodel.logs import logging_config
logging.config.dictConfig(logging_config(False, "WARNING", rate_limited=True))
backoff = {"reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 10}
producer = Producer(client_config(KafkaAccess(sys.argv[1]), **backoff))
producer.produce("t", b"x")
for _ in range(30):
    producer.poll(0.1)
"""


def test_status_prints_no_raw_librdkafka_line(stack: Settings) -> None:
    ran = subprocess.run(
        [str(REPO_ROOT / "deploy" / "movieviews"), "status"],
        env={**os.environ, **stack.to_env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "kafka      healthy" in ran.stdout, ran.stdout + ran.stderr
    assert RAW_RDKAFKA_LINE.findall(ran.stdout + ran.stderr) == [], ran.stdout + ran.stderr


def test_a_producer_refused_many_times_logs_one_line_through_logging() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    ran = subprocess.run(
        [sys.executable, "-c", REFUSED, closed],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    output = ran.stdout + ran.stderr
    assert RAW_RDKAFKA_LINE.findall(output) == [], output
    refused = [line for line in output.splitlines() if "Connection refused" in line]
    assert len(refused) == 1, output
    assert " ERROR rdkafka " in refused[0]
