"""The Dockerfile, checked for structure without an engine, for its default base
(python:3.11-slim, which no registry here serves): two stages, a slim Python 3.11 runtime
without build tools, a non-root user, functions-framework as the command, and every file it
copies present in the build context. test_image.py builds it for real on a Debian base."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from .conftest import MANIFESTS, ROOT, kustomize
from .dockerfile import Stage, parse

DOCKERFILE = ROOT / "Dockerfile"
# Packages that compile (and any `-dev` headers): none may be installed where functions run.
BUILD_TOOLS = {"gcc", "g++", "cc", "clang", "make", "build-essential", "cargo", "rustc"}


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE)


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str) -> bool:
    parts = Path(path).parts
    return any(
        fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(parts[0], pattern)
        for pattern in dockerignore()
    )


def test_a_builder_stage_makes_the_wheel_and_the_runtime_stage_copies_the_result(
    stages: list[Stage],
) -> None:
    builder, runtime = stages

    assert builder.name == "builder"
    assert any("pip wheel" in run.arguments for run in builder.all("RUN"))
    copied = [c.words for c in runtime.all("COPY") if c.arguments.startswith("--from=")]
    assert copied == [["--from=builder", "/opt/shoal", "/opt/shoal"]]


def test_the_runtime_is_slim_python_3_11_without_build_tools(stages: list[Stage]) -> None:
    builder, runtime = stages
    commands = " ".join(run.arguments for run in runtime.all("RUN"))

    assert runtime.base == builder.base
    assert runtime.base.startswith("python:3.11-slim")
    assert "apt-get install" not in commands
    assert [w for w in commands.split() if w in BUILD_TOOLS or w.endswith("-dev")] == []


def test_the_runtime_runs_as_a_user_it_creates_not_as_root(stages: list[Stage]) -> None:
    runtime = stages[-1]
    (user,) = runtime.all("USER")
    uid = user.arguments.partition(":")[0]
    commands = " ".join(run.arguments for run in runtime.all("RUN"))

    assert runtime.instructions[-1].keyword in {"CMD", "EXPOSE"}
    assert uid.isdigit()  # numeric, so Kubernetes can verify runAsNonRoot
    assert int(uid) != 0
    assert f"useradd --system --uid {uid}" in commands


def test_functions_framework_is_the_command_and_nothing_wraps_it(stages: list[Stage]) -> None:
    runtime = stages[-1]
    (cmd,) = runtime.all("CMD")

    assert cmd.exec_form == ["functions-framework"]
    assert runtime.all("ENTRYPOINT") == []  # `docker run IMAGE shoal agent ...` replaces CMD
    assert any("PATH=/opt/shoal/bin" in env.arguments for env in runtime.all("ENV"))


def test_every_copied_source_is_in_the_build_context(stages: list[Stage]) -> None:
    sources = [
        source
        for stage in stages
        for copy in stage.all("COPY")
        if not copy.arguments.startswith("--from=")
        for source in copy.words[:-1]
    ]

    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    for needed in ("pyproject.toml", "README.md", "shoal/", "local_broker/", "functions/"):
        assert needed in sources, f"the wheel is built from {needed}"


def test_the_build_context_leaves_out_what_the_image_does_not_need() -> None:
    for path in (".git", ".venv", "tests", "docs", "manifests", ".shoal", "benchmarks", "scripts"):
        assert ignored(path), path
    assert not ignored("shoal/cli/main.py")


def test_every_function_source_the_manifests_name_is_in_the_image(
    kubectl: str, stages: list[Stage]
) -> None:
    runtime = stages[-1]
    (workdir,) = runtime.all("WORKDIR")
    copied = [c.words for c in runtime.all("COPY") if not c.arguments.startswith("--from=")]
    in_image = {Path(workdir.arguments) / destination for *_sources, destination in copied}

    for service in kustomize(kubectl, MANIFESTS / "base"):
        if service["kind"] != "Service":
            continue
        (container,) = service["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        source = Path(workdir.arguments) / env["FUNCTION_SOURCE"]
        assert any(source.is_relative_to(folder) for folder in in_image), source
        assert (ROOT / env["FUNCTION_SOURCE"]).is_file()
