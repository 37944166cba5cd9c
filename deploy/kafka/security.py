"""Kafka's authentication, encryption and authorisation (MOVIEVIEWS_KAFKA_SECURITY=on): the CA and the
brokers' certificate, one SCRAM password per principal, the brokers' security properties and the ACLs.

Clients speak SASL_SSL with SCRAM-SHA-512 on the broker listener, the brokers among themselves too (as
`movieviews-broker`). The KRaft controller listener is TLS with client certificates: SCRAM credentials live
in the metadata log the controllers serve, so they cannot authenticate the controllers' own connections, and
a plaintext controller listener would make its anonymous principal a super user. Each node's certificate
(deploy/tls.py, signed by the Kafka CA, subject `CN=<its host>`) is its client certificate there.

StandardAuthorizer with `allow.everyone.if.no.acl.found=false`: a principal may do only what an ACL of
`acls()` grants it; the admin principal and the brokers are super users.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from deploy import tls
from deploy.errors import DeployError
from deploy.settings import Settings
from ground.kafka import ADMIN, API, CA_FILE, JOB, MECHANISM, client_config, password_file

BROKER = "movieviews-broker"
USERS = (ADMIN, API, JOB, BROKER)
KEYSTORE_PASSWORD = "broker-keystore"
# What the consumer groups of the stack's jobs start with: `movieviews-stream`, a rebuild's `movieviews-v2`,
# the schema resolver's `movieviews-schema-resolver`.
GROUP_PREFIX = "movieviews"
# Admin calls on a broker just started at load take seconds; the ACLs are few.
ADMIN_TIMEOUT_S = 30.0


class KafkaSecurityError(DeployError):
    """The certificates, passwords or ACLs could not be made."""


def _secrets(settings: Settings) -> Path:
    return settings.kafka_secrets_dir


def _private(path: Path, text: str) -> None:
    """Writes a file only its owner reads (mode 600), created so: never readable by others, even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def keystore(settings: Settings, node_id: int) -> Path:
    return _secrets(settings) / f"kafka-{node_id}.p12"


def prepare(settings: Settings) -> None:
    """Makes what is missing of the passwords, the CA and each node's certificate (naming the host its
    clients dial) in a PKCS12 keystore; what exists is kept, so every `up` after
    the first reuses them (the nodes' storage holds the SCRAM credentials of these passwords, written when it
    was formatted)."""
    folder = _secrets(settings)
    tls.ca_certificate(folder)
    for user in (*USERS, KEYSTORE_PASSWORD):
        if not password_file(folder, user).exists():
            _private(password_file(folder, user), secrets.token_urlsafe(24))
    for node_id, host in hosts(settings).items():
        cert, key = tls.server_certificate(folder, f"kafka-{node_id}", host)
        store = keystore(settings, node_id)
        if store.exists() and store.stat().st_mtime >= cert.stat().st_mtime:
            continue
        _openssl(
            "pkcs12", "-export", "-in", str(cert), "-inkey", str(key), "-certfile", str(folder / CA_FILE),
            "-name", BROKER, "-out", str(store),
            "-passout", f"file:{password_file(folder, KEYSTORE_PASSWORD)}",
        )  # fmt: skip
        store.chmod(0o600)


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise KafkaSecurityError(f"`openssl {args[0]}` failed: {done.stderr.strip()[-500:]}")


def hosts(settings: Settings) -> dict[int, str]:
    """Node id -> the host its clients and the other nodes dial."""
    return {i: broker.rsplit(":", 1)[0] for i, (broker, _) in enumerate(settings.kafka_nodes(), start=1)}


def _node_subjects(settings: Settings) -> list[str]:
    """The principals of the nodes' certificates on the controller listener (the default mapping: the DN)."""
    return list(dict.fromkeys(f"CN={host}" for host in hosts(settings).values()))


def _password(settings: Settings, user: str) -> str:
    return password_file(_secrets(settings), user).read_text().strip()


def scram_arguments(settings: Settings) -> list[str]:
    """StorageTool format's `--add-scram` for every principal: KRaft takes the first credentials there."""
    args = []
    for user in USERS:
        args += ["--add-scram", f"{MECHANISM}=[name={user},password={_password(settings, user)}]"]
    return args


def listener_protocols(settings: Settings) -> tuple[str, str]:
    """(broker listener, controller listener) security protocols."""
    return ("SASL_SSL", "SSL") if settings.kafka_security else ("PLAINTEXT", "PLAINTEXT")


def server_properties(settings: Settings, node_id: int) -> str:
    """A node's security properties (its file is mode 600: it holds the brokers' own password)."""
    if not settings.kafka_security:
        return ""
    folder = _secrets(settings)
    login = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{BROKER}" password="{_password(settings, BROKER)}";'
    )
    keystore_password = _password(settings, KEYSTORE_PASSWORD)
    lines = {
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config": login,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(keystore(settings, node_id)),
        "ssl.keystore.password": keystore_password,
        "ssl.key.password": keystore_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(folder / CA_FILE),
        "listener.name.controller.ssl.client.auth": "required",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": ";".join(f"User:{user}" for user in (ADMIN, BROKER, *_node_subjects(settings))),
    }
    return "".join(f"{name}={value}\n" for name, value in lines.items())


def acls(settings: Settings, group_prefix: str = GROUP_PREFIX) -> list[AclBinding]:
    """What the API and the job may do on the topics of `settings` (the stack's, or a drill's own) and the
    job's consumer groups named `group_prefix...`. Nothing else is granted to anyone but the super users."""
    allow, literal, prefixed = (
        AclPermissionType.ALLOW,
        ResourcePatternType.LITERAL,
        ResourcePatternType.PREFIXED,
    )

    def grant(
        user: str, kind: ResourceType, name: str, pattern: ResourcePatternType, op: AclOperation
    ) -> AclBinding:
        return AclBinding(kind, name, pattern, f"User:{user}", "*", op, allow)

    topic, group, cluster = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.BROKER
    events = (settings.views_topic, settings.movies_topic)
    return [
        # The API (and every event producer): idempotent writes of events and of its writer schema, which it
        # registers on the schema topic before the first event written with it (schemas/registry.py); the
        # committed offsets of the job's groups, for the lag it reports (stream/lag.py).
        *(grant(API, topic, name, literal, AclOperation.WRITE) for name in (*events, settings.schemas_topic)),
        grant(API, cluster, "kafka-cluster", literal, AclOperation.IDEMPOTENT_WRITE),
        grant(API, group, group_prefix, prefixed, AclOperation.DESCRIBE),
        # The job: reads the events and the schemas, writes dead letters (idempotent), commits its groups.
        *(grant(JOB, topic, name, literal, AclOperation.READ) for name in (*events, settings.schemas_topic)),
        grant(JOB, topic, settings.dlq_topic, literal, AclOperation.WRITE),
        grant(JOB, cluster, "kafka-cluster", literal, AclOperation.IDEMPOTENT_WRITE),
        grant(JOB, group, group_prefix, prefixed, AclOperation.READ),
        # Its schema resolver's group, whatever the job's own (a drill's job is named after the drill).
        grant(JOB, group, GROUP_PREFIX, prefixed, AclOperation.READ),
    ]


def _admin(settings: Settings) -> AdminClient:
    return AdminClient(client_config(settings.kafka_admin))


def grant(settings: Settings, group_prefix: str = GROUP_PREFIX) -> None:
    """Creates the ACLs of `acls()` (one that exists already is left as it is)."""
    if not settings.kafka_security:
        return
    bindings = list(dict.fromkeys(acls(settings, group_prefix)))
    # The client is held until the answers: a temporary one is destroyed at once, and its requests with it.
    client = _admin(settings)
    for binding, future in client.create_acls(bindings, request_timeout=ADMIN_TIMEOUT_S).items():
        try:
            future.result(ADMIN_TIMEOUT_S)
        except KafkaException as exc:
            raise KafkaSecurityError(f"cannot create the ACL {binding}: {exc}") from exc


def revoke(settings: Settings, group_prefix: str) -> None:
    """Deletes the ACLs `grant(settings, group_prefix)` made (a drill's, when its topics go)."""
    if not settings.kafka_security:
        return
    filters: Sequence[AclBindingFilter] = [
        AclBindingFilter(
            b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type
        )
        for b in dict.fromkeys(acls(settings, group_prefix))
        if b.name != GROUP_PREFIX and b.name != "kafka-cluster"
    ]
    client = _admin(settings)
    for filter_, future in client.delete_acls(list(filters), request_timeout=ADMIN_TIMEOUT_S).items():
        try:
            future.result(ADMIN_TIMEOUT_S)
        except KafkaException as exc:
            raise KafkaSecurityError(f"cannot delete the ACLs matching {filter_}: {exc}") from exc
