from __future__ import annotations

import copy
from typing import Any

import pytest

from shoal.orchestration.images import (
    FOLLOWS_ANNOTATION,
    ImageReference,
    follow_image,
    is_digest,
    parse_image,
    pin_image,
)
from shoal.orchestration.spec import InvalidSpec, parse_deployment

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


@pytest.mark.parametrize(
    ("reference", "expected", "followed"),
    [
        ("web", ImageReference("web"), "web:latest"),
        ("web:v1", ImageReference("web", "v1"), "web:v1"),
        ("library/web:1.2.3", ImageReference("library/web", "1.2.3"), "library/web:1.2.3"),
        ("127.0.0.1:5000/web", ImageReference("127.0.0.1:5000/web"), "127.0.0.1:5000/web:latest"),
        (
            "127.0.0.1:5000/web:v1",
            ImageReference("127.0.0.1:5000/web", "v1"),
            "127.0.0.1:5000/web:v1",
        ),
        ("127.0.0.1:5000/web@" + D1, ImageReference("127.0.0.1:5000/web", None, D1), None),
        ("web:v1@" + D1, ImageReference("web", "v1", D1), None),  # the digest wins
        (
            "registry:5000/team/web:v2",
            ImageReference("registry:5000/team/web", "v2"),
            "registry:5000/team/web:v2",
        ),
    ],
)
def test_parse_image(reference: str, expected: ImageReference, followed: str | None) -> None:
    assert parse_image(reference) == expected
    assert parse_image(reference).followed == followed


@pytest.mark.parametrize(
    ("value", "expected"),
    [(D1, True), ("sha512:" + "a" * 128, True), ("sha256", False), ("v1", False), ("", False)],
)
def test_is_digest(value: str, expected: bool) -> None:
    assert is_digest(value) is expected


def with_image(document: dict[str, Any], image: str, follows: str | None = None) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["spec"]["image"] = image
    if follows is not None:
        changed["metadata"]["annotations"] = {FOLLOWS_ANNOTATION: follows}
    return changed


def test_pinning_records_the_tag_and_keeps_the_rest(document: dict[str, Any]) -> None:
    pinned = pin_image(document, "127.0.0.1:5000/web:v1", D1)

    assert pinned == with_image(document, f"127.0.0.1:5000/web@{D1}", "127.0.0.1:5000/web:v1")
    assert document["spec"]["image"] == "127.0.0.1:5000/web:v1"  # the input is left alone
    assert parse_deployment(pinned).annotations == {FOLLOWS_ANNOTATION: "127.0.0.1:5000/web:v1"}


def test_pinning_keeps_other_annotations(document: dict[str, Any]) -> None:
    document["metadata"]["annotations"] = {"team": "a"}

    pinned = pin_image(document, "127.0.0.1:5000/web:v1", D1)

    expected = with_image(document, f"127.0.0.1:5000/web@{D1}")
    expected["metadata"]["annotations"] = {"team": "a", FOLLOWS_ANNOTATION: "127.0.0.1:5000/web:v1"}
    assert pinned == expected


FOLLOW_CASES = [
    # (id, image, annotation, pins, expected image, follows, digest)
    ("a tag, never pushed", "web:v1", None, {}, "web:v1", "web:v1", None),
    ("no tag follows latest", "web", None, {}, "web", "web:latest", None),
    (
        "a tag with a known digest is pinned",
        "web:v1",
        None,
        {"web:v1": D1},
        f"web@{D1}",
        "web:v1",
        D1,
    ),
    (
        "another tag's digest does not count",
        "web:v2",
        None,
        {"web:v1": D1},
        "web:v2",
        "web:v2",
        None,
    ),
    ("pinned by images", f"web@{D2}", "web:v1", {"web:v1": D1}, f"web@{D2}", "web:v1", D2),
    (
        "pinned by the user follows nothing",
        f"web@{D1}",
        None,
        {"web:v1": D1},
        f"web@{D1}",
        None,
        D1,
    ),
]


@pytest.mark.parametrize(
    ("image", "annotation", "pins", "expected_image", "follows", "digest"),
    [case[1:] for case in FOLLOW_CASES],
    ids=[case[0] for case in FOLLOW_CASES],
)
def test_follow_image(
    *,
    document: dict[str, Any],
    image: str,
    annotation: str | None,
    pins: dict[str, str],
    expected_image: str,
    follows: str | None,
    digest: str | None,
) -> None:
    followed = follow_image(with_image(document, image, annotation), pins)

    image_run = parse_deployment(followed.manifest).template.image
    assert (image_run, followed.follows, followed.digest) == (expected_image, follows, digest)


def test_a_pinned_tag_is_annotated(document: dict[str, Any]) -> None:
    followed = follow_image(with_image(document, "web:v1"), {"web:v1": D1})

    assert followed.manifest == pin_image(with_image(document, "web:v1"), "web:v1", D1)


@pytest.mark.parametrize("annotation", ["other:v1", f"web@{D1}"])
def test_an_annotation_that_contradicts_the_image_is_rejected(
    document: dict[str, Any], annotation: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        follow_image(with_image(document, f"web@{D2}", annotation), {})

    (problem,) = caught.value.problems
    assert problem.path == f"metadata.annotations.{FOLLOWS_ANNOTATION}"
    assert "or remove the annotation" in problem.message
