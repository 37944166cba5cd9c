"""Flink's REST API over mutual TLS, turned on by an https:// MOVIEVIEWS_FLINK_REST: the configuration the
JobManagers get, the identity every client presents, and how the `flink` CLI is pointed at it."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

from deploy.flink import jobs, standalone
from deploy.settings import Settings
from stream import flinkrest


def settings_with(tmp_path: Path, rest: str) -> Settings:
    return Settings.from_env({"MOVIEVIEWS_HOME": str(tmp_path), "MOVIEVIEWS_FLINK_REST": rest})


def test_a_plain_rest_url_keeps_flink_as_it_was(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "http://127.0.0.1:8081")
    assert settings.flink_rest_identity is None
    assert jobs._jobmanager(settings) == "127.0.0.1:8081"


def test_an_https_rest_url_gets_mutual_tls_with_suites_an_ec_key_can_serve(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, "https://127.0.0.1:8081")
    ssl_config = standalone._rest_tls(settings)["security"]
    assert isinstance(ssl_config, dict)
    assert ssl_config["ssl"]["algorithms"].split(",") == [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ]
    rest = ssl_config["ssl"]["rest"]
    assert (rest["enabled"], rest["authentication-enabled"]) == (True, True)
    password = (settings.flink_secrets_dir / "store.password").read_text()
    assert rest["keystore-password"] == rest["truststore-password"] == password
    listing = subprocess.run(
        ["keytool", "-list", "-keystore", rest["truststore"], "-storepass", password],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "trustedCertEntry" in listing
    # `flink` presents the REST keystore as its own certificate: it must be good for both ends.
    identity = settings.flink_rest_identity
    assert identity is not None
    ca, cert, key = identity
    text = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-ext", "extendedKeyUsage,subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in text
    assert "IP Address:127.0.0.1" in text
    made = (
        "ca.key",
        "ca.pem",
        "ca.srl",
        "rest.key",
        "rest.pem",
        "rest.p12",
        "truststore.p12",
        "store.password",
    )
    assert {p.name: p.stat().st_mode & 0o777 for p in settings.flink_secrets_dir.iterdir()} == dict.fromkeys(
        made, 0o600
    )
    context = flinkrest._tls((ca, cert, key))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    # host:port makes the CLI speak plain HTTP whatever its configuration: the scheme stays.
    assert jobs._jobmanager(settings) == "https://127.0.0.1:8081"
