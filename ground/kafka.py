"""How every Kafka client of the project reaches the brokers: the address list and, on a secured cluster, a
principal's SCRAM credentials over TLS. `client_config` is the configuration every confluent-kafka client
(producer, consumer, admin) starts from; `java_properties` is the same for the Java clients of the job (the
shaded connector's).

librdkafka prints its own log lines raw on stderr (`%3|...|FAIL|rdkafka#producer-N| ...`) unless the client
is given a Python logger: then confluent-kafka hands each line to it, mapped to a `logging` level, on the
client's `poll()`/`flush()` (STACK-NOTES). The entry points' logging configuration decides what is shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger("rdkafka")

# SCRAM over TLS: the password never crosses the wire, and the connection is encrypted and the broker
# verified against the project's CA. SHA-512, the stronger of the two SCRAM mechanisms both clients speak.
SECURITY_PROTOCOL = "SASL_SSL"
MECHANISM = "SCRAM-SHA-512"
# The Java clients of the job are those of the shaded flink-sql-connector-kafka jar, which relocates
# org.apache.kafka: a JAAS line naming the unshaded class finds no login module.
SHADED_SCRAM_LOGIN = "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule"

# The principals (SCRAM user names) and what each is for; the brokers' ACLs say what each may do.
ADMIN = "movieviews-admin"  # topics, ACLs, status, dead letters: the `movieviews` commands
API = "movieviews-api"  # produces events: the API, `movieviews produce`, the drills' load
JOB = "movieviews-job"  # the stream job: reads the events and the schemas, writes dead letters
# A secrets directory holds the CA certificate the brokers' certificates are signed by, and one password
# file per principal.
CA_FILE = "ca.pem"


def password_file(secrets: Path, user: str) -> Path:
    return secrets / f"{user}.password"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)
    # The CA certificate (PEM) that signed the brokers' certificates.
    ca: Path

    @classmethod
    def load(cls, secrets: Path, user: str) -> Credentials:
        """`user`'s password and the CA, from a secrets directory (deploy/kafka/security.py writes one)."""
        return cls(user, password_file(secrets, user).read_text().strip(), secrets / CA_FILE)


@dataclass(frozen=True)
class KafkaAccess:
    bootstrap: str
    # None: plaintext, no authentication (the single stack on loopback).
    credentials: Credentials | None = None

    @property
    def secured(self) -> bool:
        return self.credentials is not None


def client_config(kafka: KafkaAccess, **config: Any) -> dict[str, Any]:
    """`bootstrap.servers`, the security keys and the logger, then the client's own librdkafka keys (dotted,
    as librdkafka spells them: pass them as `**{"group.id": ...}`)."""
    security: dict[str, Any] = {}
    if kafka.credentials is not None:
        security = {
            "security.protocol": SECURITY_PROTOCOL,
            "sasl.mechanism": MECHANISM,
            "sasl.username": kafka.credentials.user,
            "sasl.password": kafka.credentials.password,
            "ssl.ca.location": str(kafka.credentials.ca),
        }
    return {"bootstrap.servers": kafka.bootstrap, "logger": LOGGER, **security, **config}


def java_properties(kafka: KafkaAccess) -> dict[str, str]:
    """The same access for the job's Java clients (the shaded connector's), as Kafka client properties."""
    properties = {"bootstrap.servers": kafka.bootstrap}
    if kafka.credentials is not None:
        login = (
            f'{SHADED_SCRAM_LOGIN} required username="{kafka.credentials.user}" '
            f'password="{kafka.credentials.password}";'
        )
        properties |= {
            "security.protocol": SECURITY_PROTOCOL,
            "sasl.mechanism": MECHANISM,
            "sasl.jaas.config": login,
            # Kafka clients read a PEM truststore since 2.7 (KIP-651): the CA file librdkafka reads, as is.
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(kafka.credentials.ca),
        }
    return properties
