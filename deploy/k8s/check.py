"""`deploy/movieviews check` step: the Kubernetes manifests beside this file, validated offline.

- Core objects (Deployment, Service, Job, ConfigMap, NetworkPolicy) against Kubernetes' own OpenAPI schemas
  (the `kubernetes-validate` package ships them), strict: a field Kubernetes does not know is an error.
- Custom resources against the CRDs their operators publish on Maven Central (deploy/maven/k8s-crds): the
  Flink Kubernetes Operator's FlinkDeployment, Strimzi's KafkaTopic and KafkaUser. Each version's
  openAPIV3Schema is checked with `jsonschema`, also strict: an object schema that lists its properties and
  neither preserves unknown fields nor names `additionalProperties` admits no other (the API server would
  silently prune them).
- What the manifests must agree on with the project: the API's probes, the topics' partitions and
  retention (deploy/kafka/broker.py), the users' ACLs (deploy/kafka/security.py), the job's arguments (its
  own parser, and the settings of the ConfigMap), and the NetworkPolicy over Flink's REST and metrics ports.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from deploy import checkstep
from deploy.errors import DeployError
from deploy.flink import jobscript
from deploy.jars import crd_jars
from deploy.kafka import broker, security
from deploy.paths import StatePaths
from deploy.settings import Settings

MANIFESTS = Path(__file__).parent
# The newest Kubernetes whose schemas kubernetes-validate 1.37.0 ships.
KUBERNETES_VERSION = "1.37.0"
FLINK_CRD = "META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml"
FLINK_API_JAR = "flink-kubernetes-operator-api-*.jar"
# Strimzi's CRDs are generated from these classes of its API jar, as its build does.
STRIMZI_CLASSES = {
    "kafkatopics.yaml": "io.strimzi.api.kafka.model.topic.KafkaTopic",
    "kafkausers.yaml": "io.strimzi.api.kafka.model.user.KafkaUser",
}
STRIMZI_VERSION_ARGS = [
    "--crd-api-version",
    "v1",
    "--api-versions",
    "v1beta2",
    "--storage-version",
    "v1beta2",
]
FLINK_PORTS = {"rest": 8081, "metrics": 9249}
ROOT_PROPERTIES = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object"},
}

Doc = dict[str, Any]


class ManifestError(DeployError):
    """The CRDs could not be obtained."""


def documents() -> Iterator[tuple[Path, Doc]]:
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def _name(path: Path, doc: Doc) -> str:
    name = doc.get("metadata", {}).get("name")
    return f"{path.relative_to(MANIFESTS.parent.parent)}: {doc.get('kind')} {name}"


def _strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` wherever an object lists its properties and admits no
    unknown field otherwise."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def _strimzi_crds(folder: Path) -> list[Path]:
    """Strimzi's crd-generator over its API jar, once per fetched jar set."""
    out = folder / "crds"
    made = [out / name for name in STRIMZI_CLASSES]
    if all(path.exists() for path in made):
        return made
    out.mkdir(exist_ok=True)
    targets = [f"{cls}={out / name}" for name, cls in STRIMZI_CLASSES.items()]
    argv = [
        "java",
        "-cp",
        f"{folder}/*",
        "io.strimzi.crdgenerator.CrdGenerator",
        "--yaml",
        *STRIMZI_VERSION_ARGS,
    ]
    done = subprocess.run([*argv, *targets], capture_output=True, text=True, check=False)
    if done.returncode != 0 or not all(path.exists() for path in made):
        raise ManifestError(f"Strimzi's crd-generator failed: {(done.stdout + done.stderr).strip()[-800:]}")
    return made


def crd_schemas(paths: StatePaths) -> dict[tuple[str, str], Doc]:
    """(apiVersion, kind) -> the strict openAPIV3Schema of every served version of the CRDs."""
    folder = crd_jars(paths)
    flink_jars = sorted(folder.glob(FLINK_API_JAR))
    if not flink_jars:
        raise ManifestError(f"no {FLINK_API_JAR} in {folder}")
    with zipfile.ZipFile(flink_jars[-1]) as jar:
        crds = [yaml.safe_load(jar.read(FLINK_CRD))]
    crds += [yaml.safe_load(path.read_text()) for path in _strimzi_crds(folder)]
    schemas = {}
    for crd in crds:
        spec = crd["spec"]
        for version in spec["versions"]:
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            # Every object has these, whether its CRD lists them or not (the Flink operator's does not).
            schema["properties"] = {**ROOT_PROPERTIES, **schema.get("properties", {})}
            schemas[key] = _strict(schema)
    return schemas


def schema_problems(docs: list[tuple[Path, Doc]], crds: dict[tuple[str, str], Doc]) -> list[str]:
    problems = []
    for path, doc in docs:
        schema = crds.get((doc.get("apiVersion", ""), doc.get("kind", "")))
        try:
            if schema is not None:
                jsonschema.Draft7Validator(schema).validate(doc)
            else:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except jsonschema.ValidationError as exc:
            where = ".".join(str(part) for part in exc.absolute_path) or "(top)"
            problems.append(f"{_name(path, doc)}: {where}: {exc.message}")
        except kubernetes_validate.utils.SchemaNotFoundError:
            problems.append(f"{_name(path, doc)}: no schema for {doc.get('apiVersion')} {doc.get('kind')}")
    return problems


def _of(docs: list[tuple[Path, Doc]], kind: str) -> list[Doc]:
    return [doc for _, doc in docs if doc.get("kind") == kind]


def _settings(docs: list[tuple[Path, Doc]]) -> Settings:
    """The settings the ConfigMap gives every container."""
    (config,) = _of(docs, "ConfigMap")
    return Settings.from_env(config["data"])


def probe_problems(docs: list[tuple[Path, Doc]]) -> list[str]:
    problems = []
    for deployment in _of(docs, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                found = container.get(probe, {}).get("httpGet", {}).get("path")
                if found != path:
                    problems.append(f"{deployment['metadata']['name']}: {probe} must GET {path}, not {found}")
    return problems


def topic_problems(docs: list[tuple[Path, Doc]], settings: Settings) -> list[str]:
    declared = {t["metadata"]["name"]: t["spec"] for t in _of(docs, "KafkaTopic")}
    problems = []
    for topic in broker.topics(settings):
        spec = declared.pop(topic.name, None)
        if spec is None:
            problems.append(f"KafkaTopic {topic.name} is missing")
            continue
        config = {key: str(value) for key, value in spec.get("config", {}).items()}
        drift = {key: value for key, value in topic.config.items() if config.get(key) != value}
        if spec.get("partitions") != topic.partitions or drift:
            problems.append(
                f"KafkaTopic {topic.name}: {spec.get('partitions')} partitions, config {config}; "
                f"`movieviews up` makes {topic.partitions} with {topic.config}"
            )
    problems += [f"KafkaTopic {name} is no topic of movieviews" for name in declared]
    return problems


def _granted(settings: Settings) -> set[tuple[str, str, str, str, str]]:
    """security.acls() as (user, resource type, name, pattern, operation) in Strimzi's words."""
    kinds = {"TOPIC": "topic", "GROUP": "group", "BROKER": "cluster"}
    patterns = {"LITERAL": "literal", "PREFIXED": "prefix"}
    return {
        (
            acl.principal.removeprefix("User:"),
            kinds[_enum_name(acl.restype)],
            acl.name,
            patterns[_enum_name(acl.resource_pattern_type)],
            _enum_name(acl.operation).title().replace("_", ""),
        )
        for acl in security.acls(settings)
    }


def _enum_name(value: object) -> str:
    """An AclBinding's field as its enum member's name (confluent-kafka types them as enum, str or int)."""
    return value.name if isinstance(value, Enum) else str(value)


def _declared(user: Doc) -> set[tuple[str, str, str, str, str]]:
    found = set()
    for acl in user["spec"].get("authorization", {}).get("acls", []):
        resource = acl["resource"]
        name = resource.get("name", "kafka-cluster")
        for operation in acl["operations"]:
            row = (resource["type"], name, resource.get("patternType", "literal"), operation)
            found.add((user["metadata"]["name"], *row))
    return found


def user_problems(docs: list[tuple[Path, Doc]], settings: Settings) -> list[str]:
    users = _of(docs, "KafkaUser")
    problems = [
        f"KafkaUser {u['metadata']['name']} must authenticate with scram-sha-512"
        for u in users
        if u["spec"].get("authentication", {}).get("type") != "scram-sha-512"
    ]
    declared = set().union(*(_declared(user) for user in users))
    granted = _granted(settings)
    problems += [
        f"KafkaUser ACL missing, deploy/kafka/security.py grants it: {acl}" for acl in granted - declared
    ]
    problems += [
        f"KafkaUser ACL not granted by deploy/kafka/security.py: {acl}" for acl in declared - granted
    ]
    return problems


def job_problems(docs: list[tuple[Path, Doc]], settings: Settings) -> list[str]:
    problems = []
    for deployment in _of(docs, "FlinkDeployment"):
        args = deployment["spec"]["job"]["args"]
        if args[:2] != ["-pym", jobscript.__name__]:
            problems.append(f"FlinkDeployment job must run -pym {jobscript.__name__}, not {args[:2]}")
            continue
        try:
            config, _ = jobscript.from_args(args[2:])
        except SystemExit:
            problems.append(f"FlinkDeployment job arguments refused by {jobscript.__name__}: {args[2:]}")
            continue
        expected = {
            "bootstrap": settings.kafka_bootstrap,
            "kafka_secrets": str(settings.kafka_secrets_dir),
            "views_topic": settings.views_topic,
            "movies_topic": settings.movies_topic,
            "dlq_topic": settings.dlq_topic,
            "schemas_topic": settings.schemas_topic,
            "jdbc_url": settings.writer_jdbc_url,
            "parallelism": settings.job_parallelism,
        }
        problems += [
            f"FlinkDeployment job --{field.replace('_', '-')} {getattr(config, field)!r}; the ConfigMap's "
            f"settings give {value!r}"
            for field, value in expected.items()
            if getattr(config, field) != value
        ]
    return problems


def policy_problems(docs: list[tuple[Path, Doc]]) -> list[str]:
    """A NetworkPolicy selects the Flink pods and opens their REST and metrics ports only to named peers."""
    labels = [d["spec"]["podTemplate"]["metadata"]["labels"] for d in _of(docs, "FlinkDeployment")]
    for policy in _of(docs, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        if not all(selector.items() <= pod.items() for pod in labels):
            continue
        rules = policy["spec"].get("ingress", [])
        opened = {p["port"] for rule in rules for p in rule.get("ports", [])}
        if "Ingress" in policy["spec"].get("policyTypes", []) and all(rule.get("from") for rule in rules):
            missing = set(FLINK_PORTS.values()) - opened
            return (
                [f"NetworkPolicy {policy['metadata']['name']} names no peer for ports {missing}"]
                if missing
                else []
            )
    return ["no NetworkPolicy selects the Flink pods and restricts every ingress rule to named peers"]


def problems(paths: StatePaths) -> list[str]:
    docs = list(documents())
    settings = _settings(docs)
    return [
        *schema_problems(docs, crd_schemas(paths)),
        *probe_problems(docs),
        *topic_problems(docs, settings),
        *user_problems(docs, settings),
        *job_problems(docs, settings),
        *policy_problems(docs),
    ]


def main() -> int:
    paths = StatePaths(Settings.from_env(os.environ).home)
    paths.home.mkdir(parents=True, exist_ok=True)
    passed = (
        f"deploy/k8s: {len(list(documents()))} objects valid (Kubernetes {KUBERNETES_VERSION} schemas, the "
        "operators' CRDs); probes, topics, ACLs, job arguments and the Flink NetworkPolicy agree with the "
        "project"
    )
    return checkstep.report(lambda: problems(paths), passed)


if __name__ == "__main__":
    sys.exit(main())
