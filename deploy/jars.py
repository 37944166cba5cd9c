"""Fetching the pinned Maven artifacts: the Kafka broker, ZooKeeper (cluster profile), the connector jars
every Flink job uses, and the browser assets (WebJars) the API serves; and building the job's own jar (the
JVM view reader, stream/jvm)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import pyflink

from deploy.errors import DeployError
from deploy.paths import DEPLOY_DIR, StatePaths
from deploy.settings import REPO_ROOT
from stream.viewreader import JAR_NAME, SOURCES

MAVEN_DIR = DEPLOY_DIR / "maven"
# Where a WebJar keeps its files: META-INF/resources/webjars/<package>/<version>/...
WEBJAR_ROOT = "META-INF/resources/webjars/"
# The packages whose code runs in a job's Python workers (the layers below `readmodel`); `deploy` only builds
# the job, in the `flink run` client.
JOB_PACKAGES = ("ground", "schemas", "ingest", "stream")
# A cold Maven cache downloads ~40 MB; the shade build takes about 30 s on this machine.
MAVEN_TIMEOUT_S = 900


def _fresh(pom: Path, stamp: Path) -> bool:
    return stamp.exists() and stamp.read_text() == _digest(pom)


def _digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def _mvn(args: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(
        ["mvn", "-q", "-B", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=MAVEN_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise DeployError(f"maven failed fetching {what} (pom in {cwd}):\n{tail}")


def _copy_dependencies(name: str, dest: Path, paths: StatePaths) -> None:
    pom = MAVEN_DIR / name / "pom.xml"
    stamp = dest / f".{name}.sha256"
    if _fresh(pom, stamp):
        return
    dest.mkdir(parents=True, exist_ok=True)
    _mvn(["-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={dest}"], paths.home, name)
    stamp.write_text(_digest(pom))


def _build_shaded_kafka_connector(paths: StatePaths) -> None:
    name = "flink-connector-kafka"
    pom = MAVEN_DIR / name / "pom.xml"
    stamp = paths.jars / f".{name}.sha256"
    if _fresh(pom, stamp):
        return
    # Built in a copy so `target/` lands in the state dir, not in the source tree.
    work = paths.build / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copy(pom, work / "pom.xml")
    _mvn(["package"], work, "the shaded Kafka connector")
    paths.jars.mkdir(parents=True, exist_ok=True)
    shutil.copy(work / "target" / "flink-sql-connector-kafka-3.4.0-1.20.jar", paths.jars)
    stamp.write_text(_digest(pom))


def _sources_digest(sources: list[Path]) -> str:
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.relative_to(SOURCES).as_posix().encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def stream_jar(paths: StatePaths) -> Path:
    """The job's own jar (the JVM view reader, the Postgres sink), first rebuilt if a source changed. Not on
    the cluster's classpath: every submission ships it with the job, so a job always runs the Java of its own
    checkout, whatever the running cluster loaded (a benchmark or rebuild after an edit included)."""
    paths.build.mkdir(parents=True, exist_ok=True)
    jar = paths.build / JAR_NAME
    build_stream_jar(jar)
    return jar


def build_stream_jar(jar: Path) -> None:
    """Compiles stream/jvm against the Flink jars of the pyflink package (the ones the cluster runs): no Maven
    download, about a second. Rebuilt when a source changes, into a new file a running job does not hold."""
    stamp = jar.with_name(f".{jar.name}.sha256")
    sources = sorted(SOURCES.rglob("*.java"))
    digest = _sources_digest(sources)
    if jar.exists() and stamp.exists() and stamp.read_text() == digest:
        return
    classes = jar.with_name(f"{jar.stem}-classes")
    shutil.rmtree(classes, ignore_errors=True)
    partial = jar.with_name(f"{jar.name}.partial")
    classpath = str(Path(pyflink.__file__).parent / "lib" / "*")
    for command in (
        ["javac", "--release", "17", "-d", str(classes), "-cp", classpath, *map(str, sources)],
        ["jar", "--create", "--file", str(partial), "-C", str(classes), "."],
    ):
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = proc.stderr[-2000:]
            raise DeployError(f"{command[0]} failed building {jar.name} from {SOURCES}:\n{tail}")
    partial.replace(jar)
    stamp.write_text(digest)


def ensure_jars(paths: StatePaths, zookeeper: bool = False, broker: bool = True) -> None:
    if broker:
        _copy_dependencies("kafka-broker", paths.kafka / "libs", paths)
    if zookeeper:
        _copy_dependencies("zookeeper", paths.zookeeper / "libs", paths)
    _copy_dependencies("flink-connectors", paths.jars, paths)
    _build_shaded_kafka_connector(paths)
    stream_jar(paths)  # built here, not at the first submission


def python_sources(paths: StatePaths) -> Path:
    """The project's packages a job runs on the workers (their `.py` files and the Avro schemas), zipped for
    `flink run -pyfs`: Flink unpacks the zip on each worker and puts it on the Python path. A cluster of the
    project's own imports them from this checkout instead. Rewritten when a file changed."""
    files = sorted(
        path
        for package in JOB_PACKAGES
        for path in (REPO_ROOT / package).rglob("*")
        if path.is_file()
        and (path.suffix == ".py" or (path.suffix in (".avsc", ".json") and "avro" in path.parts))
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    archive = paths.build / "movieviews-python.zip"
    stamp = archive.with_name(f".{archive.name}.sha256")
    if archive.exists() and stamp.exists() and stamp.read_text() == digest.hexdigest():
        return archive
    paths.build.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f"{archive.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
        for path in files:
            out.write(path, path.relative_to(REPO_ROOT).as_posix())
    partial.replace(archive)
    stamp.write_text(digest.hexdigest())
    return archive


def crd_jars(paths: StatePaths) -> Path:
    """The folder of the jars the Kubernetes operators publish their CRDs in (deploy/maven/k8s-crds), fetched
    when missing: what `movieviews check` validates deploy/k8s against."""
    folder = paths.build / "k8s-crds"
    _copy_dependencies("k8s-crds", folder, paths)
    return folder


def connector_jars(paths: StatePaths) -> list[Path]:
    """The jars a job needs beyond flink-dist: Kafka connector, JDBC connector, PostgreSQL driver."""
    return sorted(p for p in paths.jars.glob("*.jar") if not p.name.startswith("checker-qual"))


def ensure_web_assets(paths: StatePaths) -> None:
    """GraphiQL and React from their WebJars, unpacked as `paths.web_assets/<package>/<version>/<file>`."""
    jars = paths.build / "web-assets"
    _copy_dependencies("web-assets", jars, paths)
    pom = MAVEN_DIR / "web-assets" / "pom.xml"
    stamp = paths.web_assets / ".web-assets.sha256"
    if _fresh(pom, stamp):
        return
    shutil.rmtree(paths.web_assets, ignore_errors=True)
    for jar in sorted(jars.glob("*.jar")):
        with zipfile.ZipFile(jar) as archive:
            for member in archive.infolist():
                name = member.filename
                if member.is_dir() or not name.startswith(WEBJAR_ROOT) or ".." in name.split("/"):
                    continue
                target = paths.web_assets / name.removeprefix(WEBJAR_ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
    stamp.write_text(_digest(pom))
