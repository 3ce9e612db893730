"""Finding the functions: every `@function` and `@http_function` in the modules of a directory
(`functions/`).

Modules are loaded from their files, as functions-framework loads `--source`, so whatever
discovery finds is something `functions-framework --source FILE --target NAME` can serve.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from shoal.runtime.decorator import spec_of
from shoal.runtime.errors import FunctionDefinitionError
from shoal.runtime.http_function import http_spec_of
from shoal.runtime.spec import ServiceSpec


def load_module_functions(path: Path) -> list[ServiceSpec]:
    """The functions defined (not merely imported) in the module at `path`."""
    path = path.resolve()
    module_name = f"shoal_functions_{abs(hash(path))}_{path.stem}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise FunctionDefinitionError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    loader_spec.loader.exec_module(module)
    found: list[ServiceSpec] = []
    for attribute, value in vars(module).items():
        spec = spec_of(value) or http_spec_of(value)
        if spec is None or spec.source_file != path:
            continue
        if attribute != spec.name:
            raise FunctionDefinitionError(
                f"{path}: function {spec.name!r} is bound to the name {attribute!r}; "
                f"functions-framework finds a target by its name, so call it {spec.name!r}"
            )
        found.append(spec)
    return found


def discover(directory: Path) -> list[ServiceSpec]:
    """Every function in `directory/*.py` (files starting with `_` skipped), sorted by name."""
    specs: dict[str, ServiceSpec] = {}
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for spec in load_module_functions(path):
            other = specs.get(spec.service)
            if other is not None:
                raise FunctionDefinitionError(
                    f"functions {spec.name!r} ({spec.source_file}) and {other.name!r} "
                    f"({other.source_file}) would both be the Service {spec.service!r}; rename one"
                )
            specs[spec.service] = spec
    return [specs[name] for name in sorted(specs)]
