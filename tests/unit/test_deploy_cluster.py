"""The cluster profile's settings and the configuration files rendered from them (no process started)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy import stack
from deploy.flink import standalone
from deploy.kafka import broker
from deploy.paths import StatePaths
from deploy.settings import ConfigError, Settings


def test_the_cluster_profile_has_its_own_ports_and_state_dir_beside_the_single_stack() -> None:
    env = {
        "MOVIEVIEWS_PG_PORT": "5533",
        "MOVIEVIEWS_CLUSTER_API_PORT": "26040",
        "MOVIEVIEWS_VIEWS_TOPIC": "t",
    }
    single, clustered = Settings.from_env(env), Settings.from_env(env, profile="cluster")
    assert (single.pg_port, clustered.pg_port) == (5533, 19433)
    assert (clustered.api_port, clustered.views_topic, clustered.job_parallelism) == (26040, "t", 2)
    assert clustered.home != single.home
    assert Settings.from_env(clustered.to_env()) == clustered


def test_each_kafka_node_is_broker_and_controller_with_three_replicas(tmp_path: Path) -> None:
    # Security's properties are test_kafka_security's.
    env = {"MOVIEVIEWS_CLUSTER_HOME": str(tmp_path), "MOVIEVIEWS_CLUSTER_KAFKA_SECURITY": "off"}
    settings = Settings.from_env(env, profile="cluster")
    nodes = broker.nodes(settings)
    assert [n.program for n in nodes] == ["kafka", "kafka-2", "kafka-3"]
    paths = StatePaths(settings.home)
    broker._write_config(settings, paths, nodes[1])
    lines = (nodes[1].home(paths) / "server.properties").read_text().splitlines()
    assert "node.id=2" in lines
    assert "controller.quorum.voters=1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097" in lines
    assert {"default.replication.factor=3", "min.insync.replicas=2"} <= set(lines)
    assert {"transaction.state.log.min.isr=2", "unclean.leader.election.enable=false"} <= set(lines)


def test_a_controller_list_of_another_length_than_the_brokers_is_refused() -> None:
    env = {"MOVIEVIEWS_KAFKA_BOOTSTRAP": "a:1,b:1", "MOVIEVIEWS_KAFKA_CONTROLLERS": "a:2"}
    with pytest.raises(ConfigError, match="MOVIEVIEWS_KAFKA_CONTROLLERS"):
        Settings.from_env(env)


def test_flink_on_the_cluster_profile_is_the_single_config_with_zookeeper_ha_over_it(tmp_path: Path) -> None:
    settings = Settings.from_env({"MOVIEVIEWS_CLUSTER_HOME": str(tmp_path)}, profile="cluster")
    paths = StatePaths(settings.home)
    standalone._write_conf(settings, paths)
    config = yaml.safe_load((paths.flink_conf / "config.yaml").read_text())
    assert config["high-availability"]["type"] == "zookeeper"
    assert config["high-availability"]["zookeeper"]["quorum"] == "127.0.0.1:19181"
    assert config["taskmanager"]["numberOfTaskSlots"] == 2
    assert config["taskmanager"]["memory"]["process"]["size"] == "6144m"  # kept from the single config
    # Pekko's own remoting start-up timeout, raised for a loaded host, on every Flink JVM of the profile
    for role in ("jobmanager", "taskmanager"):
        assert "-Dpekko.remote.classic.startup-timeout=60s" in config["env"]["java"]["opts"][role]
    assert [jm.name for jm in standalone.jobmanagers(settings)] == ["flink-jobmanager", "flink-jobmanager-2"]
    assert len(standalone.taskmanagers(settings)) == 2


def test_removing_a_stopped_stacks_data_keeps_its_downloads_and_logs(tmp_path: Path) -> None:
    settings = Settings.from_env({"MOVIEVIEWS_CLUSTER_HOME": str(tmp_path)}, profile="cluster")
    paths = StatePaths(settings.home)
    data = [
        paths.postgres / "data",
        paths.kafka / "data",
        paths.kafka / "node-3" / "data",
        paths.zookeeper / "data",
        paths.checkpoints / "job",
        paths.flink_ha / "job",
    ]
    kept = [paths.jars, paths.kafka / "libs", paths.zookeeper / "libs", paths.logs]
    for folder in data + kept:
        folder.mkdir(parents=True)
        (folder / "file").write_text("x")
    stack.remove_data(settings, paths)
    assert [folder for folder in data if folder.exists()] == []
    assert all((folder / "file").exists() for folder in kept)
