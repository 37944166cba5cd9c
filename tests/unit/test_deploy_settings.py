"""Settings are declared once, as fields with their variable, default and meaning, and cast by their type; a
missing or malformed value is refused naming its variable."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from deploy.settings import DECLARED, ConfigError, Settings


def test_every_field_is_declared_with_its_own_variable() -> None:
    assert list(DECLARED) == [each.name for each in fields(Settings)]
    variables = [declared.env for declared in DECLARED.values()]
    assert len(set(variables)) == len(variables)
    assert all(variable.startswith("MOVIEVIEWS_") for variable in variables)


def test_values_are_cast_by_the_field_type(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "MOVIEVIEWS_API_PORT": "8123",
            "MOVIEVIEWS_PG_TLS": "on",
            "MOVIEVIEWS_MANAGED": "off",
            "MOVIEVIEWS_HOME": str(tmp_path / "state" / ".." / "home"),
            "MOVIEVIEWS_VIEWS_TOPIC": "42",
        }
    )
    assert (settings.api_port, settings.pg_tls, settings.managed) == (8123, True, False)
    assert settings.home == tmp_path / "home"
    assert settings.views_topic == "42"


def test_defaults_are_cast_like_values_read() -> None:
    settings = Settings.from_env({})
    assert (settings.pg_port, settings.kafka_security, settings.dedup_window_s) == (5433, False, 86400)
    assert settings.home.is_absolute()


def test_the_profile_variable_wins_over_the_shared_one() -> None:
    settings = Settings.from_env(
        {"MOVIEVIEWS_PG_PORT": "6000", "MOVIEVIEWS_CLUSTER_PG_PORT": "6001", "MOVIEVIEWS_VIEWS_TOPIC": "v"},
        profile="cluster",
    )
    assert (settings.pg_port, settings.views_topic, settings.kafka_security) == (6001, "v", True)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MOVIEVIEWS_API_WORKERS": ""}, "Config 'MOVIEVIEWS_API_WORKERS' is missing"),
        ({"MOVIEVIEWS_API_WORKERS": "2.5"}, "Config 'MOVIEVIEWS_API_WORKERS' must be an integer, got '2.5'"),
        ({"MOVIEVIEWS_PG_TLS": "yes"}, "Config 'MOVIEVIEWS_PG_TLS' must be on or off, got 'yes'"),
        (
            {"MOVIEVIEWS_PROFILE": "triple"},
            r"Config 'MOVIEVIEWS_PROFILE' must be one of \('single', 'cluster'\), got 'triple'",
        ),
        (
            {"MOVIEVIEWS_KAFKA_CONTROLLERS": "127.0.0.1:9093,127.0.0.1:9095"},
            "Config 'MOVIEVIEWS_KAFKA_CONTROLLERS' must list one host:port per broker of "
            "'MOVIEVIEWS_KAFKA_BOOTSTRAP'",
        ),
    ],
)
def test_a_missing_or_malformed_value_is_refused_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_with_managed_services_off_a_bootstrap_list_of_several_brokers_needs_no_controllers() -> None:
    """The controllers are the team's: nothing of the project starts or dials them."""
    bootstrap = "k1:9093,k2:9093,k3:9093"
    env = {"MOVIEVIEWS_MANAGED": "off", "MOVIEVIEWS_KAFKA_BOOTSTRAP": bootstrap}
    assert Settings.from_env(env).kafka_brokers == ["k1:9093", "k2:9093", "k3:9093"]
    with pytest.raises(ConfigError, match="MOVIEVIEWS_KAFKA_CONTROLLERS"):
        Settings.from_env({**env, "MOVIEVIEWS_MANAGED": "on"})
