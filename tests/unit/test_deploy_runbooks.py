"""Runbook pointers: every alert's runbook_url and every status hint lands on a section of docs/OPERATIONS.md,
and an unhealthy component gets the hint of its condition."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from deploy.cli import main
from deploy.prometheus.server import TEMPLATES
from deploy.runbooks import HINTS, RUNBOOKS, hint
from deploy.settings import REPO_ROOT, Settings
from deploy.stack import Health


def anchors() -> set[str]:
    """GitHub's anchors of the runbook's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", (REPO_ROOT / RUNBOOKS).read_text(), re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alert_rule_links_a_section_of_the_runbook() -> None:
    # the template's `$$` are Prometheus' `$`: YAML reads them as text either way
    rules = yaml.safe_load((TEMPLATES / "rules.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    links = {rule["alert"]: rule["annotations"]["runbook_url"] for rule in alerts}
    assert links == {name: f"{RUNBOOKS}#{name.lower()}" for name in links}
    assert {name.lower() for name in links} <= anchors()


def test_every_status_hint_links_a_section_of_the_runbook() -> None:
    assert {each.section for each in HINTS} | {"where-to-look"} <= anchors()


@pytest.mark.parametrize(
    ("component", "detail", "section"),
    [
        (
            "job",
            "state RESTARTING; no checkpoint completed in 30s: f282d0ec RESTARTING, ...",
            "jobrestarting",
        ),
        (
            "job",
            "no checkpoint completed in 30s: f282d0ec RUNNING, last checkpoint 41.2s ago",
            "checkpointtooold",
        ),
        ("job", "read model 12.3s behind while 100 events wait: f282d0ec RUNNING, ...", "readmodelstale"),
        ("job", "no job named movieviews runs; the last one is CANCELED: ...", "no-job-running"),
        ("api", "GET /readyz: unavailable (postgres unavailable, kafka ok)", "api-not-ready"),
        ("kafka", "nothing listens on 127.0.0.1:9092", "kafka-broker-down"),
        ("postgres", "select 1 on 127.0.0.1:5433 failed: connection refused", "postgres-down"),
    ],
)
def test_an_unhealthy_component_gets_the_hint_of_its_condition(
    component: str, detail: str, section: str
) -> None:
    assert (hint(Health(component, False, detail)) or "").endswith(f"({RUNBOOKS}#{section})")


def test_a_healthy_component_gets_no_hint() -> None:
    assert hint(Health("job", True, "f282d0ec RUNNING, last checkpoint 0.6s ago")) is None


def test_status_json_carries_each_components_hint(capsys: pytest.CaptureFixture[str]) -> None:
    dead = Settings.from_env(
        {
            "MOVIEVIEWS_KAFKA_BOOTSTRAP": "127.0.0.1:1",
            "MOVIEVIEWS_PG_PORT": "2",
            "MOVIEVIEWS_FLINK_REST": "http://127.0.0.1:3",
            "MOVIEVIEWS_PROMETHEUS_PORT": "4",
        }
    )
    assert main(["status", "--json"], dead) == 1
    found = {c["component"]: c["runbook"] for c in json.loads(capsys.readouterr().out)["components"]}
    assert found["kafka"] == (
        "the supervisor restarts it; if it stays down, read .state/logs/kafka.log "
        f"({RUNBOOKS}#kafka-broker-down)"
    )
    assert found["postgres"].endswith(f"({RUNBOOKS}#postgres-down)")
