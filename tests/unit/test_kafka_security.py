from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AclOperation, ResourceType  # type: ignore[attr-defined]

from deploy.flink.jobs import job_config
from deploy.kafka import security
from deploy.settings import ConfigError, Settings
from ground.kafka import (
    ADMIN,
    API,
    JOB,
    Credentials,
    KafkaAccess,
    client_config,
    java_properties,
    password_file,
)
from stream.topology import source_ddl

SECURED = KafkaAccess("b:9092", Credentials(JOB, "s3cret", Path("/secrets/ca.pem")))


def secured_settings(tmp_path: Path) -> Settings:
    settings = Settings.from_env({"MOVIEVIEWS_CLUSTER_HOME": str(tmp_path)}, profile="cluster")
    settings.kafka_secrets_dir.mkdir(parents=True)
    for user in (*security.USERS, security.KEYSTORE_PASSWORD):
        password_file(settings.kafka_secrets_dir, user).write_text(f"{user}-password\n")
    return settings


def test_the_cluster_profile_secures_kafka_and_the_single_one_does_not() -> None:
    assert Settings.from_env({}, profile="cluster").kafka_security
    assert not Settings.from_env({}).kafka_security
    assert Settings.from_env({}).kafka_api == KafkaAccess("127.0.0.1:9092")


def test_each_principal_reads_its_own_password_from_the_secrets_directory(tmp_path: Path) -> None:
    settings = secured_settings(tmp_path)
    for access, user in ((settings.kafka_admin, ADMIN), (settings.kafka_api, API), (settings.kafka_job, JOB)):
        assert access.credentials == Credentials(
            user, f"{user}-password", settings.kafka_secrets_dir / "ca.pem"
        )


def test_a_missing_password_is_refused_naming_the_setting_and_the_directory(tmp_path: Path) -> None:
    settings = Settings.from_env({"MOVIEVIEWS_CLUSTER_HOME": str(tmp_path)}, profile="cluster")
    with pytest.raises(ConfigError, match="MOVIEVIEWS_KAFKA_SECURITY") as raised:
        _ = settings.kafka_api
    assert str(settings.kafka_secrets_dir) in str(raised.value)


def test_a_secured_client_speaks_scram_over_tls_verifying_the_project_ca() -> None:
    config = client_config(SECURED, **{"group.id": "g"})
    assert {
        k: config[k] for k in ("security.protocol", "sasl.mechanism", "sasl.username", "ssl.ca.location")
    } == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": JOB,
        "ssl.ca.location": "/secrets/ca.pem",
    }
    assert config["sasl.password"] == "s3cret" and config["group.id"] == "g"
    assert "s3cret" not in repr(SECURED)


def test_the_job_connector_logs_in_with_the_shaded_scram_module_and_a_pem_truststore() -> None:
    ddl = source_ddl(job_config(Settings.from_env({})), SECURED)
    assert "'properties.security.protocol' = 'SASL_SSL'" in ddl
    shaded = "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule"
    login = f'{shaded} required username="movieviews-job" password="s3cret";'
    assert f"'properties.sasl.jaas.config' = '{login}'" in ddl
    assert "'properties.ssl.truststore.type' = 'PEM'" in ddl
    assert java_properties(KafkaAccess("b:9092")) == {"bootstrap.servers": "b:9092"}


def test_the_brokers_authorise_every_request_and_only_the_admin_and_themselves_are_super_users(
    tmp_path: Path,
) -> None:
    lines = security.server_properties(secured_settings(tmp_path), 1).splitlines()
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in lines
    assert "allow.everyone.if.no.acl.found=false" in lines
    assert "super.users=User:movieviews-admin;User:movieviews-broker;User:CN=127.0.0.1" in lines
    assert "listener.name.controller.ssl.client.auth=required" in lines


def test_the_api_may_only_write_events_and_the_job_only_read_them_and_write_dead_letters(
    tmp_path: Path,
) -> None:
    settings = secured_settings(tmp_path)
    granted = {
        (b.principal, b.restype, b.name, b.operation) for b in security.acls(settings, group_prefix="drill-x")
    }
    topic, group, cluster = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.BROKER
    api, job = f"User:{API}", f"User:{JOB}"
    assert {g for g in granted if g[0] == api} == {
        (api, topic, "movie-views", AclOperation.WRITE),
        (api, topic, "movies", AclOperation.WRITE),
        (api, topic, "movieviews-schemas", AclOperation.WRITE),
        (api, cluster, "kafka-cluster", AclOperation.IDEMPOTENT_WRITE),
        (api, group, "drill-x", AclOperation.DESCRIBE),
    }
    assert {g for g in granted if g[0] == job} == {
        (job, topic, "movie-views", AclOperation.READ),
        (job, topic, "movies", AclOperation.READ),
        (job, topic, "movieviews-schemas", AclOperation.READ),
        (job, topic, "movie-views-dlq", AclOperation.WRITE),
        (job, cluster, "kafka-cluster", AclOperation.IDEMPOTENT_WRITE),
        (job, group, "drill-x", AclOperation.READ),
        (job, group, "movieviews", AclOperation.READ),
    }
    assert {g[0] for g in granted} == {api, job}
