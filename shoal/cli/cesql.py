"""`shoal cesql`: try a CESQL expression, or run CESQL conformance (TCK) files.

    shoal cesql "type LIKE 'dev.shoal.%' AND EXISTS node" --event event.json
    shoal cesql --tck ../shared/conformance/cesql-tck/*.yaml

Evaluating prints the value (strings quoted, as CESQL writes them) and each error. Exit status:
0 evaluated cleanly, 1 evaluation reported an error, 2 the expression does not parse or the
input cannot be read. With --tck: one line per failing case, then `N passed, N failed`;
exit status 1 when any case failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from local_broker.cesql import CesqlParseError, compile_expression
from local_broker.cesql.json_event import attributes_from_json_event
from local_broker.cesql.tck import check_case, load_cases
from local_broker.event import AttributeValue

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_UNUSABLE = 2


def register(subparsers: Any) -> None:
    """Add the `cesql` subcommand to a `shoal` argument parser's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cesql",
        help="evaluate a CESQL expression against an event, or run CESQL TCK files",
        description="Evaluate a CloudEvents SQL expression against a JSON-format event "
        "(no event: no attributes), or run CESQL conformance (TCK) YAML files.",
    )
    parser.add_argument("expression", nargs="?", help="the CESQL expression to evaluate")
    parser.add_argument(
        "--event", type=Path, metavar="FILE.json", help="a JSON-format CloudEvent to evaluate on"
    )
    parser.add_argument(
        "--tck", type=Path, nargs="+", metavar="FILE", help="run these TCK-format YAML files"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    if args.tck:
        if args.expression is not None or args.event is not None:
            print("shoal cesql: --tck takes no expression and no --event", file=err)
            return EXIT_UNUSABLE
        return _run_tck(args.tck, out, err)
    if args.expression is None:
        print("shoal cesql: give an EXPRESSION to evaluate, or --tck FILE...", file=err)
        return EXIT_UNUSABLE
    return _evaluate(args.expression, args.event, out, err)


def _evaluate(source: str, event_path: Path | None, out: TextIO, err: TextIO) -> int:
    try:
        expression = compile_expression(source)
    except CesqlParseError as parse_error:
        _report_parse_error(source, parse_error, err)
        return EXIT_UNUSABLE
    try:
        attributes = _read_event(event_path) if event_path else {}
    except (OSError, ValueError) as problem:
        print(f"shoal cesql: cannot use {event_path}: {problem}", file=err)
        return EXIT_UNUSABLE
    result = expression.evaluate(attributes)
    print(_literal(result.value), file=out)
    for error in result.errors:
        print(f"error ({error.kind}): {error.message}", file=out)
    return EXIT_ERROR if result.errors else EXIT_OK


def _report_parse_error(source: str, error: CesqlParseError, err: TextIO) -> None:
    """The reason, then the source line holding the error with a caret under the column."""
    start = source.rfind("\n", 0, error.position - 1) + 1
    end = source.find("\n", start)
    line = source[start : end if end >= 0 else len(source)].replace("\t", " ")
    line_number = source.count("\n", 0, start) + 1
    column = error.position - start
    where = f"column {column}" if line_number == 1 else f"line {line_number}, column {column}"
    print(f"parse error at {where}: {error.reason}", file=err)
    print(f"  {line}\n  {' ' * (column - 1)}^", file=err)


def _read_event(path: Path) -> dict[str, AttributeValue]:
    event = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(event, dict):
        raise ValueError("a JSON-format CloudEvent is a JSON object")
    return attributes_from_json_event(event)


def _literal(value: bool | int | str) -> str:
    """A value as a CESQL literal, so the string 'true' and the boolean true look different."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "\\'") + "'"


def _run_tck(paths: list[Path], out: TextIO, err: TextIO) -> int:
    passed = failed = 0
    for path in paths:
        try:
            cases = load_cases(path.read_text(encoding="utf-8"), path.stem)
        except (OSError, ValueError) as problem:
            print(f"shoal cesql: cannot use {path}: {problem}", file=err)
            return EXIT_UNUSABLE
        for case in cases:
            failure = check_case(case)
            if failure is None:
                passed += 1
            else:
                failed += 1
                print(f"FAIL {case.case_id} [{case.expression}]: {failure}", file=out)
    print(f"{passed} passed, {failed} failed", file=out)
    return EXIT_ERROR if failed else EXIT_OK
