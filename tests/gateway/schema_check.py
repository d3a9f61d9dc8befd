"""A small JSON Schema checker for the keywords docs/schemas/*.json use; it refuses any other keyword, so
a schema cannot silently grow beyond what the check understands."""

import re
from typing import Any

_KNOWN = {
    "$schema", "$id", "title", "description", "type", "required", "additionalProperties", "properties",
    "const", "enum", "pattern", "minimum", "maximum", "maxLength",
}  # fmt: skip

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def errors(schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    unknown = set(schema) - _KNOWN
    if unknown:
        raise ValueError(f"schema keyword(s) not supported here: {sorted(unknown)}")
    out: list[str] = []
    if "type" in schema:
        types = _TYPES[schema["type"]]
        is_bool = isinstance(value, bool)
        if not isinstance(value, types) or (is_bool and schema["type"] != "boolean"):
            return [f"{path}: expected {schema['type']}, got {type(value).__name__}"]
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: does not match {schema['pattern']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: longer than {schema['maxLength']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: above {schema['maximum']}")
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{path}: missing {name}")
        for name, item in value.items():
            if name in props:
                out.extend(errors(props[name], item, f"{path}.{name}"))
            elif schema.get("additionalProperties", True) is False:
                out.append(f"{path}: unexpected {name}")
    return out
