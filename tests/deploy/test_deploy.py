"""`shoal deploy`: the flow against a fake kubectl, then the real kubectl of this machine, which
has no cluster: the failure a new user meets first, and a dry run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from shoal.cli.main import main
from shoal.deploy.deploy import DeploySettings, deploy
from shoal.deploy.errors import DeployError
from shoal.deploy.kubectl import Completed

from .conftest import MANIFESTS, NAMESPACE
from .fake_kubectl import NOT_FOUND, OK, Answer, FakeKubectl
from .test_preflight import HEALTHY, PUSHED

COMPONENT = "app.kubernetes.io/component"
NO_CONTEXT = Completed(1, stderr="error: current-context is not set")
PRODUCTION = MANIFESTS / "overlays" / "production"


def rendered(image: str = PUSHED) -> str:
    """What kustomize renders, reduced to a Broker and a function reading the state Secret."""
    state = {
        "name": "SHOAL_STATE_URL",
        "valueFrom": {"secretKeyRef": {"name": "shoal-state", "key": "url"}},
    }
    labels = {"app.kubernetes.io/part-of": "shoal", "app.kubernetes.io/component": "function"}
    container = {"image": image, "env": [state]}
    return yaml.safe_dump_all(
        [
            {
                "apiVersion": "eventing.knative.dev/v1",
                "kind": "Broker",
                "metadata": {"name": "default", "namespace": NAMESPACE},
            },
            {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "metadata": {"name": "audit", "namespace": NAMESPACE, "labels": labels},
                "spec": {"template": {"spec": {"containers": [container]}}},
            },
        ]
    )


def streams() -> tuple[io.StringIO, io.StringIO]:
    return io.StringIO(), io.StringIO()


class Run:
    """One `deploy` of the production overlay against a fake kubectl, its output kept."""

    def __init__(
        self,
        answers: dict[tuple[str, ...], Answer],
        *,
        dry_run: bool = False,
        image: str | None = None,
        objects: str = rendered(),
    ) -> None:
        self.objects = objects
        self.kustomizations: list[str] = []
        self.kubectl = FakeKubectl({("kustomize",): self._kustomize, **answers})
        self.out, self.err = io.StringIO(), io.StringIO()
        settings = DeploySettings(MANIFESTS, "production", image, dry_run)
        self.status = deploy(self.kubectl, settings, self.out, self.err)

    def _kustomize(self, args: tuple[str, ...]) -> Completed:
        self.kustomizations.append((Path(args[1]) / "kustomization.yaml").read_text())
        return Completed(0, self.objects)

    def called(self, *prefix: str) -> list[tuple[str, ...]]:
        return [call for call in self.kubectl.calls if call[: len(prefix)] == prefix]


def test_a_dry_run_without_a_cluster_prints_the_objects_and_skips_validation() -> None:
    run = Run({("config", "current-context"): NO_CONTEXT}, dry_run=True)

    assert run.status == 0
    assert run.out.getvalue() == rendered()
    assert "skipped `kubectl apply --dry-run=client`" in run.err.getvalue()
    assert run.called("apply") == []


def test_a_dry_run_with_a_cluster_has_kubectl_validate_client_side() -> None:
    created = Completed(0, "broker.eventing.knative.dev/default created (dry run)\n")

    run = Run({**HEALTHY, ("apply",): created}, dry_run=True)

    assert run.status == 0
    assert run.called("apply") == [("apply", "--dry-run=client", "-k", str(PRODUCTION))]
    assert "created (dry run)" in run.err.getvalue()


def test_the_image_is_set_on_top_of_the_overlay_without_editing_it() -> None:
    run = Run({("config", "current-context"): NO_CONTEXT}, dry_run=True, image=PUSHED)

    (kustomization,) = [yaml.safe_load(text) for text in run.kustomizations]
    ((_, root),) = run.called("kustomize")
    assert (Path(root) / kustomization["resources"][0]).resolve() == PRODUCTION.resolve()
    assert kustomization["images"] == [
        {"name": "ghcr.io/shoal-dev/shoal", "newName": "kind.local/shoal", "newTag": "dev"}
    ]
    assert not Path(root).exists()  # the temporary kustomization is gone


def test_a_ready_cluster_gets_the_overlay_applied() -> None:
    created = Completed(0, "broker.eventing.knative.dev/default created\n")

    run = Run({**HEALTHY, ("apply", "-k"): created})

    assert run.status == 0
    assert run.called("apply") == [("apply", "-k", str(PRODUCTION))]
    assert run.out.getvalue() == created.stdout
    assert f"kubectl -n {NAMESPACE} get ksvc,broker,trigger" in run.err.getvalue()


def test_an_error_stops_the_deploy_before_anything_is_applied() -> None:
    run = Run({**HEALTHY, ("get", "secret"): NOT_FOUND})

    assert run.status == 1
    assert run.called("apply") == []
    assert "error: no Secret shoal-state in namespace shoal" in run.err.getvalue()
    assert f"nothing applied ({PRODUCTION})" in run.err.getvalue()


def test_a_warning_is_printed_and_the_deploy_goes_on() -> None:
    run = Run({**HEALTHY, ("apply", "-k"): OK}, objects=rendered("ghcr.io/me/shoal:1"))

    assert run.status == 0
    assert run.called("apply") == [("apply", "-k", str(PRODUCTION))]
    assert "warning: Knative resolves the tag of ghcr.io/me/shoal:1" in run.err.getvalue()


def test_a_failing_apply_is_reported_with_kubectl_s_reason() -> None:
    run = Run({**HEALTHY, ("apply", "-k"): Completed(1, stderr='error: webhook "x" denied')})

    assert run.status == 1
    assert 'kubectl apply failed: error: webhook "x" denied' in run.err.getvalue()


def test_without_kubectl_or_an_overlay_the_deploy_cannot_start() -> None:
    with pytest.raises(DeployError, match=r"install kubectl 1\.21 or later"):
        deploy(FakeKubectl({}, installed=False), DeploySettings(MANIFESTS), *streams())
    with pytest.raises(DeployError, match=r"no overlay 'staging'.*one of: dev, production"):
        deploy(FakeKubectl({}), DeploySettings(MANIFESTS, "staging"), *streams())


def test_an_overlay_kustomize_cannot_render_is_reported_with_its_reason() -> None:
    broken = Completed(1, stderr="Error: accumulating resources: ../../base: no such file")

    with pytest.raises(DeployError, match=r"kustomize cannot render .* no such file.*shoal manif"):
        deploy(FakeKubectl({("kustomize",): broken}), DeploySettings(MANIFESTS), *streams())


@pytest.fixture
def no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl with an empty configuration: no context, as on a machine never set up."""
    empty = tmp_path / "kubeconfig"
    empty.write_text("")
    monkeypatch.setenv("KUBECONFIG", str(empty))


@pytest.mark.usefixtures("no_kubeconfig")
def test_with_the_real_kubectl_and_no_context_it_says_how_to_set_one(
    kubectl: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["deploy", "--manifests", str(MANIFESTS), "--kubectl", kubectl])

    err = capsys.readouterr().err
    assert status == 1
    assert "error: kubectl has no current context" in err
    assert "kubectl config use-context NAME" in err
    assert "nothing applied (" in err


@pytest.mark.usefixtures("no_kubeconfig")
def test_with_the_real_kubectl_a_dry_run_prints_the_production_objects_with_the_image(
    kubectl: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "deploy",
            "--overlay",
            "production",
            "--dry-run",
            "--image",
            PUSHED,
            "--manifests",
            str(MANIFESTS),
            "--kubectl",
            kubectl,
        ]
    )

    out, err = capsys.readouterr()
    objects = [o for o in yaml.safe_load_all(out) if o]
    images = {
        c["image"]
        for o in objects
        if o["kind"] == "Service"
        and o["metadata"]["labels"].get("app.kubernetes.io/component") == "function"
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert status == 0
    assert images == {PUSHED}
    assert "skipped `kubectl apply --dry-run=client`" in err
