"""The images function: a push of a followed tag pins deployments to its digest and rolls out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shoal import events
from shoal.orchestration.images import FOLLOWS_ANNOTATION
from shoal.runtime.wire import binary_message
from tests.functions.cluster import Cluster, manifest, revision_of

REPOSITORY = "127.0.0.1:5000/web"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def push(cluster: Cluster, digest: str, tag: str = "v1") -> list[dict[str, object]]:
    data = {"repository": REPOSITORY, "tag": tag, "digest": digest}
    return cluster.send(events.IMAGE_PUSHED, data, source="/registry")


def pinned(digest: str, tag: str = "v1", **spec: Any) -> dict[str, Any]:
    document = manifest(f"{REPOSITORY}@{digest}", **spec)
    document["metadata"]["annotations"] = {FOLLOWS_ANNOTATION: f"{REPOSITORY}:{tag}"}
    return document


def test_a_push_pins_the_followers_and_rolls_them_out(cluster: Cluster) -> None:
    cluster.apply(manifest(replicas=2))
    cluster.settle()

    (applied,) = push(cluster, D1)
    cluster.settle()

    assert applied["type"] == events.DEPLOYMENT_APPLIED
    assert applied["subject"] == "web"
    assert applied["data"] == {"manifest": pinned(D1, replicas=2)}
    record = cluster.deployment()
    assert record is not None
    assert (record.follows, record.image_digests) == (f"{REPOSITORY}:v1", {f"{REPOSITORY}:v1": D1})
    assert (record.revision, record.state) == (revision_of(pinned(D1)), "complete")
    assert [r.number for r in record.revisions] == [1, 2]
    assert {r.revision for r in cluster.replicas()} == {revision_of(pinned(D1))}
    (requested, *_) = cluster.of_type(events.REPLICA_REQUESTED)[1:]
    assert requested["data"]["template"]["image"] == f"{REPOSITORY}@{D1}"


def test_the_same_digest_twice_does_nothing(cluster: Cluster) -> None:
    cluster.apply(manifest())
    push(cluster, D1)
    cluster.settle()
    before = cluster.deployment()

    assert push(cluster, D1) == []
    assert cluster.deployment() == before


def test_the_next_digest_pins_again(cluster: Cluster) -> None:
    cluster.apply(manifest())
    push(cluster, D1)
    cluster.settle()

    (applied,) = push(cluster, D2)
    cluster.settle()

    assert applied["data"] == {"manifest": pinned(D2)}
    record = cluster.deployment()
    assert record is not None
    assert record.image_digests == {f"{REPOSITORY}:v1": D2}
    assert {r.revision for r in cluster.replicas()} == {revision_of(pinned(D2))}


def test_reapplying_the_tag_keeps_the_pinned_digest(cluster: Cluster) -> None:
    cluster.apply(manifest())
    push(cluster, D1)
    cluster.settle()
    before = cluster.deployment()

    assert cluster.apply(manifest()) == []
    assert cluster.deployment() == before


@pytest.mark.parametrize(
    "document",
    [
        manifest(f"{REPOSITORY}:v2"),  # another tag
        manifest(f"{REPOSITORY}@{D2}"),  # pinned by its user: follows nothing
        manifest("127.0.0.1:5000/api:v1"),  # another repository
    ],
    ids=["another tag", "pinned by the user", "another repository"],
)
def test_deployments_that_do_not_follow_the_tag_are_left_alone(
    cluster: Cluster, document: dict[str, Any]
) -> None:
    cluster.apply(document)

    assert push(cluster, D1) == []


def test_a_deployment_being_deleted_is_left_alone(cluster: Cluster) -> None:
    cluster.apply(manifest())
    cluster.settle()
    cluster.auto_start = False
    cluster.send(events.DEPLOYMENT_DELETED, {"deployment": "web"})
    cluster.pending.clear()  # its replicas have not stopped yet

    assert push(cluster, D1) == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"repository": REPOSITORY, "tag": "v1"}, "data.digest must be a non-empty string"),
        ({"repository": REPOSITORY, "tag": "v1", "digest": "v1"}, "is not a digest"),
        ({"repository": f"{REPOSITORY}:v1", "tag": "v1", "digest": D1}, "with no tag"),
    ],
)
def test_a_malformed_push_is_dead_lettered(
    cluster: Cluster, data: dict[str, str], fragment: str
) -> None:
    event = cluster.event(events.IMAGE_PUSHED, data, source="/registry")

    response = cluster.invokers["images"].handle(*binary_message(event))

    assert response.status == 422
    assert fragment in json.loads(response.body)["error"]
