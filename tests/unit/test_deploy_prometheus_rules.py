"""The alert rules' own tests: `movieviews check` refuses a rule that rules_test.yml leaves out."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from deploy.prometheus.server import RULES_TEST, TEMPLATES, _untested, write_config
from deploy.settings import Settings


def _written(folder: Path) -> Path:
    write_config(Settings.from_env({}), folder)
    shutil.copyfile(TEMPLATES / RULES_TEST, folder / RULES_TEST)
    return folder


def test_the_shipped_rules_test_covers_every_alert_firing_and_quiet(tmp_path: Path) -> None:
    assert _untested(_written(tmp_path)) == []


def test_an_alert_without_a_quiet_case_is_named(tmp_path: Path) -> None:
    folder = _written(tmp_path)
    tests = yaml.safe_load((folder / RULES_TEST).read_text())
    for test in tests["tests"]:
        test["alert_rule_test"] = [
            case
            for case in test["alert_rule_test"]
            if case["alertname"] != "TargetDown" or case["exp_alerts"]
        ]
    (folder / RULES_TEST).write_text(yaml.safe_dump(tests))
    assert _untested(folder) == [f"{RULES_TEST}: alert TargetDown is never kept quiet"]


def test_an_alert_left_out_entirely_is_named_twice(tmp_path: Path) -> None:
    folder = _written(tmp_path)
    tests = yaml.safe_load((folder / RULES_TEST).read_text())
    for test in tests["tests"]:
        test["alert_rule_test"] = [c for c in test["alert_rule_test"] if c["alertname"] != "StateDiskLow"]
    (folder / RULES_TEST).write_text(yaml.safe_dump(tests))
    assert _untested(folder) == [
        f"{RULES_TEST}: alert StateDiskLow is never made to fire",
        f"{RULES_TEST}: alert StateDiskLow is never kept quiet",
    ]
