"""The Kubernetes manifests (deploy/k8s) as `movieviews check` validates them: each mistake below is one an
operator could make, and each is named."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deploy.k8s import check
from deploy.paths import StatePaths
from deploy.settings import Settings

Docs = list[tuple[Path, dict[str, Any]]]


@pytest.fixture(scope="module")
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    """The operators' CRDs, fetched once into the state dir's build folder as `movieviews check` does."""
    home = Settings.from_env(os.environ).home
    home.mkdir(parents=True, exist_ok=True)
    return check.crd_schemas(StatePaths(home))


def docs() -> Docs:
    return copy.deepcopy(list(check.documents()))


def edited(kind: str, change: Callable[[dict[str, Any]], object], name: str | None = None) -> Docs:
    found = docs()
    for _, doc in found:
        if doc["kind"] == kind and name in (None, doc["metadata"]["name"]):
            change(doc)
            return found
    raise AssertionError(f"no {kind} {name}")


def test_the_shipped_manifests_pass_every_check(crds: dict[tuple[str, str], dict[str, Any]]) -> None:
    shipped = docs()
    settings = check._settings(shipped)
    assert check.schema_problems(shipped, crds) == []
    assert check.probe_problems(shipped) == []
    assert check.topic_problems(shipped, settings) == []
    assert check.user_problems(shipped, settings) == []
    assert check.job_problems(shipped, settings) == []
    assert check.policy_problems(shipped) == []
    kinds = sorted(doc["kind"] for _, doc in shipped)
    assert kinds == sorted(
        ["ConfigMap", "Deployment", "Service", "Job", "NetworkPolicy", "FlinkDeployment"]
        + ["KafkaTopic"] * 4
        + ["KafkaUser"] * 3
    )


def test_the_operators_crds_are_the_ones_the_manifests_name(
    crds: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert {
        ("flink.apache.org/v1beta1", "FlinkDeployment"),
        ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
        ("kafka.strimzi.io/v1beta2", "KafkaUser"),
    } <= set(crds)


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        (
            "KafkaTopic",
            lambda d: d["spec"].update(partitons=4),
            "deploy/k8s/kafka-topics.yaml: KafkaTopic movie-views: spec: Additional properties are not "
            "allowed ('partitons' was unexpected)",
        ),
        (
            "KafkaUser",
            lambda d: d["spec"]["authentication"].update(type="scram-sha-256"),
            "deploy/k8s/kafka-users.yaml: KafkaUser movieviews-api: spec.authentication.type: "
            "'scram-sha-256' is not one of",
        ),
        (
            "FlinkDeployment",
            lambda d: d["spec"]["job"].update(upgradeMode="rolling"),
            "deploy/k8s/flink-deployment.yaml: FlinkDeployment movieviews-flink: spec.job.upgradeMode: "
            "'rolling' is not one of",
        ),
        (
            "Deployment",
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinessprobe={}),
            "deploy/k8s/api.yaml: Deployment movieviews-api: spec.template.spec.containers.0: Additional "
            "properties are not allowed ('readinessprobe' was unexpected)",
        ),
        (
            "Job",
            lambda d: d["spec"].update(backoffLimit="four"),
            "deploy/k8s/migrate-job.yaml: Job movieviews-migrate: spec.backoffLimit: 'four' is not of type",
        ),
    ],
)
def test_a_field_its_schema_does_not_allow_is_named_with_its_path(
    crds: dict[tuple[str, str], dict[str, Any]],
    kind: str,
    change: Callable[[dict[str, Any]], object],
    message: str,
) -> None:
    (problem,) = check.schema_problems(edited(kind, change), crds)
    assert problem.startswith(message), problem


def test_a_probe_on_the_wrong_path_is_named() -> None:
    def change(deployment: dict[str, Any]) -> None:
        deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] = (
            "/healthz"
        )

    assert check.probe_problems(edited("Deployment", change)) == [
        "movieviews-api: readinessProbe must GET /readyz, not /healthz"
    ]


def test_a_topic_kept_for_a_week_differs_from_what_up_makes() -> None:
    found = edited(
        "KafkaTopic", lambda d: d["spec"]["config"].update({"retention.ms": "604800000"}), "movies"
    )
    (problem,) = check.topic_problems(found, check._settings(found))
    assert problem.startswith("KafkaTopic movies: 4 partitions, config {'retention.ms': '604800000'")


def test_an_api_user_allowed_to_read_the_views_is_refused() -> None:
    def change(user: dict[str, Any]) -> None:
        user["spec"]["authorization"]["acls"][0]["operations"].append("Read")

    found = edited("KafkaUser", change, "movieviews-api")
    assert check.user_problems(found, check._settings(found)) == [
        "KafkaUser ACL not granted by deploy/kafka/security.py: "
        "('movieviews-api', 'topic', 'movie-views', 'literal', 'Read')"
    ]


def test_a_job_writing_to_a_postgres_it_does_not_verify_is_named() -> None:
    def change(deployment: dict[str, Any]) -> None:
        args = deployment["spec"]["job"]["args"]
        at = args.index("--jdbc-url") + 1
        args[at] = args[at].split("?")[0]

    found = edited("FlinkDeployment", change)
    (problem,) = check.job_problems(found, check._settings(found))
    assert problem.startswith("FlinkDeployment job --jdbc-url 'jdbc:postgresql://movieviews-postgres-rw")
    assert problem.endswith("/movieviews?sslmode=verify-full&sslrootcert=/etc/movieviews/postgres/ca.pem'")


def test_a_job_missing_an_argument_is_refused_by_the_jobs_own_parser() -> None:
    def change(deployment: dict[str, Any]) -> None:
        args = deployment["spec"]["job"]["args"]
        at = args.index("--trending-table")
        del args[at : at + 2]

    (problem,) = check.job_problems(edited("FlinkDeployment", change), check._settings(docs()))
    assert problem.startswith("FlinkDeployment job arguments refused by deploy.flink.jobscript")


def test_flinks_ports_opened_to_anyone_are_named() -> None:
    found = edited("NetworkPolicy", lambda d: d["spec"]["ingress"][2].pop("from"))
    assert check.policy_problems(found) == [
        "no NetworkPolicy selects the Flink pods and restricts every ingress rule to named peers"
    ]
