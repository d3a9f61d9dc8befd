"""Checking a value against one of docs/schemas/*.json with a full JSON Schema validator (draft 2020-12), the
kind a gateway written elsewhere would use: the tests then hold the service and the gateway to what such a
validator says, not to a reading of the schema of our own."""

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

SCHEMAS = Path(__file__).parents[2] / "docs" / "schemas"


def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return schema


@cache
def _validator(text: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(json.loads(text))


def errors(schema: dict[str, Any], value: Any) -> list[str]:
    """What the validator finds wrong, each as ``$.path: message``; empty when the value is valid."""
    found = _validator(json.dumps(schema, sort_keys=True)).iter_errors(value)
    return [f"{'.'.join(['$', *map(str, e.instance_path)])}: {e.message}" for e in found]


def valid(schema: dict[str, Any], value: Any) -> bool:
    return _validator(json.dumps(schema, sort_keys=True)).is_valid(value)
