#!/usr/bin/env python3
"""Validates ShadowBell JSON and JSON Lines outputs against the schemas beside this file.

    python3 Docs/schema/validate.py FILE...      # exit 0 when every file is valid
    python3 Docs/schema/validate.py --serve      # one path per line on stdin, one verdict per line

A file is matched to its schema by its content: `baseline: true` (analyze --write-baseline),
`fleet_summary: true` (summarize --format json), else the report schema; a file of several lines
that each hold an object is JSON Lines, validated line by line against run-record.v1.
Needs the `jsonschema` package (pip install jsonschema).
"""
import json
import pathlib
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

HERE = pathlib.Path(__file__).resolve().parent


def load_validators():
    schemas = {p.name: json.loads(p.read_text()) for p in HERE.glob("*.schema.json")}
    for s in schemas.values():
        Draft202012Validator.check_schema(s)
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values())
    validators = {name.split(".")[0]: Draft202012Validator(s, registry=registry) for name, s in schemas.items()}
    # The report schema accepts one run or a batch (anyOf); each is checked against its own
    # definition so that an error names the member at fault.
    for part in ("batch", "report"):
        ref = {"$ref": schemas["report.v1.schema.json"]["$id"] + "#/$defs/" + part}
        validators["report-" + part] = Draft202012Validator(ref, registry=registry)
    return validators


class NotJSON(Exception):
    pass


def documents(text):
    try:
        return [("", json.loads(text))], False
    except json.JSONDecodeError as whole:
        lines = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                lines.append((f"line {i}: ", json.loads(line)))
            except json.JSONDecodeError as error:
                # Neither one JSON value nor JSON Lines: say where, not a traceback.
                raise NotJSON(f"not JSON ({whole.msg} at line {whole.lineno}, column {whole.colno})" if not lines
                              else f"line {i}: not JSON ({error.msg}, column {error.colno})")
        return lines, True


def problems(validators, path):
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return [f"cannot read it ({error})"]
    try:
        docs, lines = documents(text)
    except NotJSON as error:
        return [str(error)]
    if not docs:
        return ["no JSON value"]
    out = []
    for where, doc in docs:
        if not isinstance(doc, dict):
            out.append(f"{where}not an object")
            continue
        if doc.get("baseline") is True:
            name = "baseline"
        elif doc.get("fleet_summary") is True:
            name = "summary"
        elif lines:
            name = "run-record"
        else:
            name = "report-batch" if doc.get("batch") is True else "report-report"
            out += [f"{where}report: not valid as report.v1 (one run or a batch)" for _ in validators["report"].iter_errors(doc)][:1]
        for e in sorted(validators[name].iter_errors(doc), key=lambda e: list(e.path))[:5]:
            out.append(f"{where}{name}: {'/'.join(map(str, e.path))}: {e.message[:300]}")
    return out


def main():
    validators = load_validators()
    if sys.argv[1:] == ["--serve"]:
        for line in sys.stdin:
            path = line.rstrip("\n")
            try:
                found = problems(validators, path)
            except Exception as e:  # an unreadable or non-JSON file is a verdict, not a crash
                found = [f"{type(e).__name__}: {e}"]
            print("ok" if not found else "invalid " + json.dumps(found), flush=True)
        return 0
    bad = 0
    for path in sys.argv[1:]:
        found = problems(validators, path)
        for p in found:
            print(f"{path}: {p}")
        bad += bool(found)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
