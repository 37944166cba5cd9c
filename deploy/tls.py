"""A certificate authority of the stack's own and the server certificates it signs (openssl), made once by
`up` in a folder only its owner reads and reused after: a certificate is reissued only when it no longer
names the host clients dial. Clients verify the server against the CA's certificate and the host name
(libpq's and pgjdbc's `sslmode=verify-full`)."""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

from deploy.errors import DeployError

CA = "ca"
# Ten years: a stack kept for years does not stop on an expiry; replacing them is deleting the files and
# running `up` again.
CERT_DAYS = 3650
# P-256 keys: every client here (libpq, asyncpg's ssl module, pgjdbc on Java 17) takes them, and openssl
# makes one in milliseconds.
KEY_ARGS = ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")


class TlsError(DeployError):
    """A key or certificate could not be made."""


def _openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TlsError(f"`openssl {' '.join(args[:2])}` failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _key(path: Path) -> None:
    """A private key created mode 600: never readable by others, even briefly."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    _openssl("genpkey", *KEY_ARGS, "-out", str(path))


def alt_name(host: str) -> str:
    """`host` as a subjectAltName entry: clients match an address against IP entries, a name against DNS."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"DNS:{host}"
    return f"IP:{host}"


def ca_certificate(folder: Path) -> Path:
    """The CA's certificate in `folder` (mode 700), made with its key when missing."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    key, cert = folder / f"{CA}.key", folder / f"{CA}.pem"
    if not (key.exists() and cert.exists()):
        _key(key)
        _openssl(
            "req", "-x509", "-new", "-key", str(key), "-sha256", "-days", str(CERT_DAYS),
            "-subj", f"/CN=movieviews-ca {folder.name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(cert),
        )  # fmt: skip
        cert.chmod(0o600)
    return cert


def names_host(cert: Path, host: str) -> bool:
    """Whether `cert` is valid for `host` as a client checks it (an IP against IP entries)."""
    check = "-checkip" if alt_name(host).startswith("IP:") else "-checkhost"
    return "does match" in _openssl("x509", "-in", str(cert), "-noout", check, host)


def server_certificate(folder: Path, name: str, host: str, usage: str = "serverAuth") -> tuple[Path, Path]:
    """(certificate, key) `name`.pem/.key in `folder`, signed by its CA, for clients that dial `host` (and
    localhost); made when missing or when it does not name `host`. `usage` is its extendedKeyUsage:
    "serverAuth,clientAuth" for an identity that is also presented as a client's."""
    ca = ca_certificate(folder)
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    if cert.exists() and key.exists() and names_host(cert, host):
        return cert, key
    _key(key)
    request, extensions = folder / f"{name}.csr", folder / f"{name}.ext"
    names = ",".join(dict.fromkeys(alt_name(h) for h in (host, "localhost", "127.0.0.1")))
    # clientAuth too: a Kafka node presents its certificate as a client to the KRaft controllers
    # (deploy/kafka/security.py).
    extensions.write_text(f"subjectAltName={names}\nextendedKeyUsage=serverAuth,clientAuth\n")
    try:
        _openssl("req", "-new", "-key", str(key), "-subj", f"/CN={host}", "-out", str(request))
        _openssl(
            "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(folder / f"{CA}.key"),
            "-CAcreateserial", "-days", str(CERT_DAYS), "-sha256", "-extfile", str(extensions),
            "-out", str(cert),
        )  # fmt: skip
    finally:
        request.unlink(missing_ok=True)
        extensions.unlink(missing_ok=True)
    for made in folder.iterdir():
        made.chmod(0o600)
    return cert, key


def java_stores(folder: Path, name: str, password: str) -> tuple[Path, Path]:
    """(keystore, truststore) for a JVM: `name`'s key and certificate, and the CA, as PKCS12 files in
    `folder` (mode 600), remade from the PEM files each time (seconds, and never stale)."""
    keystore, truststore = folder / f"{name}.p12", folder / "truststore.p12"
    for store in (keystore, truststore):
        store.unlink(missing_ok=True)
    _openssl(
        "pkcs12", "-export", "-in", str(folder / f"{name}.pem"), "-inkey", str(folder / f"{name}.key"),
        "-certfile", str(folder / f"{CA}.pem"), "-name", name, "-out", str(keystore),
        "-passout", f"pass:{password}",
    )  # fmt: skip
    done = subprocess.run(
        ["keytool", "-importcert", "-noprompt", "-alias", CA, "-file", str(folder / f"{CA}.pem"),
         "-keystore", str(truststore), "-storetype", "PKCS12", "-storepass", password],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise TlsError(f"`keytool -importcert` failed: {(done.stdout + done.stderr).strip()[-500:]}")
    for store in (keystore, truststore):
        store.chmod(0o600)
    return keystore, truststore
