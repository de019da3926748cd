"""The configuration reference, rendered from the configuration's JSON schema.

A mkdocs hook (``hooks:`` in mkdocs.yml): a page holding the marker ``<!-- config-reference -->``
gets it replaced by :func:`render_reference`. The renderer is generic JSON Schema (draft
2020-12, as pydantic writes it): ``properties``, ``additionalProperties`` (maps of named
entries), ``items``, ``$defs``/``$ref`` (one section per definition), ``oneOf``/``anyOf``/
``allOf``, ``discriminator``, ``enum``/``const``, defaults and ranges.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator


MARKER = "<!-- config-reference -->"
TOP = "top-level"


def config_json_schema() -> dict:
    """The JSON schema of the whole configuration, generated from the typed specs."""
    from metainv.specs import config_json_schema as generated

    return generated()


# ---------------------------------------------------------------- schema helpers

def def_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def anchor(name: str) -> str:
    return "def-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def resolve(schema: dict, root: dict) -> dict:
    """Follow a ``$ref`` (local ``#/...`` pointers) to the schema it names."""
    while "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def branches(schema: dict) -> list[dict]:
    return list(schema.get("oneOf", [])) + list(schema.get("anyOf", [])) + list(schema.get("allOf", []))


def is_object(schema: dict) -> bool:
    return "properties" in schema or schema.get("type") == "object"


def is_section(schema: dict, root: dict) -> bool:
    """A ``$ref`` to an object definition: rendered once, in its own section."""
    return "$ref" in schema and is_object(resolve(schema, root))


def fmt_value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value)
    return f"`{text}`"


def type_text(schema: dict, root: dict) -> str:
    """Markdown for a schema's type: links for object definitions, ``|`` for unions."""
    if "$ref" in schema:
        target = resolve(schema, root)
        if is_object(target):
            name = def_name(schema["$ref"])
            return f"[{target.get('title', name)}](#{anchor(name)})"
        return type_text({k: v for k, v in schema.items() if k != "$ref"} | target, root)
    if "const" in schema:
        return fmt_value(schema["const"])
    if "enum" in schema:
        kinds = sorted({"null" if v is None else type(v).__name__.replace("str", "string").replace(
            "int", "integer").replace("float", "number").replace("bool", "boolean") for v in schema["enum"]})
        return " \\| ".join(kinds)
    parts = branches(schema)
    if parts and "allOf" in schema and len(parts) == 1:
        return type_text(parts[0], root)
    if parts:
        text = " \\| ".join(dict.fromkeys(type_text(p, root) for p in parts))
        disc = schema.get("discriminator")
        if disc:
            text += f", chosen by `{disc['propertyName']}`"
        return text
    kind = schema.get("type")
    if isinstance(kind, list):
        return " \\| ".join(type_text({**schema, "type": k}, root) for k in kind)
    if kind == "array":
        items = schema.get("items")
        return f"array of {type_text(items, root)}" if items else "array"
    if kind == "object" or "properties" in schema:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not schema.get("properties"):
            return f"map: name → {type_text(extra, root)}"
        return "object"
    return kind or "any"


def allowed_text(schema: dict, root: dict) -> str:
    """Ranges, enums, patterns and sizes of a schema (and of its union branches)."""
    if "$ref" in schema and not is_object(resolve(schema, root)):
        schema = {k: v for k, v in schema.items() if k != "$ref"} | resolve(schema, root)
    out = []
    if "enum" in schema:
        out.append(" · ".join(fmt_value(v) for v in schema["enum"]))
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in schema and not isinstance(schema[key], bool):
            out.append(f"{sign} {schema[key]:g}" if isinstance(schema[key], (int, float)) else f"{sign} {schema[key]}")
    for key, label in (("minItems", "items ≥"), ("maxItems", "items ≤"), ("minProperties", "entries ≥"),
                       ("minLength", "length ≥"), ("maxLength", "length ≤")):
        if key in schema:
            out.append(f"{label} {schema[key]}")
    if "pattern" in schema:
        out.append(f"matches `{schema['pattern']}`")
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        inner = allowed_text(schema["items"], root)
        if inner:
            out.append(f"each: {inner}")
    for part in branches(schema):
        text = allowed_text(part, root)
        if text:
            out.append(text)
    disc = schema.get("discriminator")
    if disc and disc.get("mapping"):
        out.append("; ".join(f"`{k}` → [{def_name(v)}](#{anchor(def_name(v))})" for k, v in disc["mapping"].items()))
    return "; ".join(dict.fromkeys(out))


def cell(text: str) -> str:
    """One table cell: one line, pipes escaped outside code spans (inside them a table
    does not split)."""
    parts = re.split(r"(`[^`]*`)", re.sub(r"\s+", " ", str(text)).strip())
    return "".join(p if p.startswith("`") else re.sub(r"(?<!\\)\|", r"\\|", p) for p in parts) or " "


# ---------------------------------------------------------------- rows and sections

def rows(schema: dict, root: dict, prefix: str = "") -> Iterator[tuple[str, ...]]:
    """(key, type, default, allowed, description) for every key below ``schema``, by dotted
    path (``<name>`` for an entry of a map, ``[]`` for the items of a list); definitions
    (``$ref`` to an object) are named, not expanded."""
    needed = set(schema.get("required", []))
    for key, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{key}" if prefix else key
        yield from _row_and_children(sub, root, path, key in needed)


def _row_and_children(sub: dict, root: dict, path: str, required: bool) -> Iterator[tuple[str, ...]]:
    if "default" in sub:
        default = fmt_value(sub["default"])
    else:
        default = "required" if required else "—"
    description = sub.get("description") or ("" if is_section(sub, root) else resolve(sub, root).get("description", ""))
    yield (f"`{path}`", type_text(sub, root), default, allowed_text(sub, root), description)
    if is_section(sub, root):
        return
    if sub.get("properties"):
        yield from rows(sub, root, path)
    extra = sub.get("additionalProperties")
    if isinstance(extra, dict) and extra and not sub.get("properties") and not is_section(extra, root):
        if extra.get("properties"):
            yield from rows(extra, root, f"{path}.<name>")
    items = sub.get("items")
    if isinstance(items, dict) and items.get("properties") and not is_section(items, root):
        yield from rows(items, root, f"{path}[]")


def referenced_defs(schema: Any, root: dict, seen: list[str]) -> list[str]:
    """Object definitions in the order of their first reference (depth first)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if ref and ref.startswith("#/$defs/"):
            name = def_name(ref)
            if name not in seen and is_object(resolve(schema, root)):
                seen.append(name)
                referenced_defs(resolve(schema, root), root, seen)
        for key, value in schema.items():
            if key != "$defs":
                referenced_defs(value, root, seen)
    elif isinstance(schema, list):
        for value in schema:
            referenced_defs(value, root, seen)
    return seen


def users(root: dict) -> dict[str, list[str]]:
    """For each definition, the keys (dotted paths) whose type names it."""
    found: dict[str, list[str]] = {}

    def walk(schema: dict, path: str) -> None:
        for ref in _refs_at(schema):
            found.setdefault(def_name(ref), []).append(path)
        for key, sub in (schema.get("properties") or {}).items():
            walk(sub, f"{path}.{key}" if path else key)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and "$ref" not in schema:
            walk(extra, f"{path}.<name>")
        if isinstance(schema.get("items"), dict) and "$ref" not in schema:
            walk(schema["items"], f"{path}[]")

    def _refs_at(schema: dict) -> list[str]:
        out = [schema["$ref"]] if "$ref" in schema and is_object(resolve(schema, root)) else []
        for part in branches(schema):
            out += _refs_at(part)
        return out

    walk(root, "")
    for name, definition in (root.get("$defs") or {}).items():
        for key, sub in (definition.get("properties") or {}).items():
            walk(sub, f"{name}: {key}")
    return found


def table(body: list[tuple[str, ...]]) -> str:
    head = "| key | type | default | allowed | description |\n|---|---|---|---|---|\n"
    return head + "".join("| " + " | ".join(cell(c) for c in row) + " |\n" for row in body)


def render_reference(schema: dict | None = None) -> str:
    """The reference as markdown: the top level, then one section per object definition."""
    root = config_json_schema() if schema is None else schema
    out = [f"## Top level {{#{TOP}}}\n", cell(root.get("description", "")) + "\n", table(list(rows(root, root)))]
    defs = root.get("$defs") or {}
    names = referenced_defs(root, root, [])
    names += [n for n in defs if n not in names and is_object(defs[n])]
    used_by = users(root)
    for name in names:
        definition = defs[name]
        out.append(f"\n## {definition.get('title', name)} {{#{anchor(name)}}}\n")
        if used_by.get(name):
            out.append("Used by " + ", ".join(f"`{p}`" for p in dict.fromkeys(used_by[name])) + ".\n")
        if definition.get("description"):
            out.append(cell(definition["description"]) + "\n")
        body = list(rows(definition, root))
        if body:
            out.append(table(body))
        if branches(definition):
            out.append(f"One of: {type_text(definition, root)}.\n")
    return "\n".join(out)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs hook: the marker becomes the rendered reference."""
    return markdown.replace(MARKER, render_reference()) if MARKER in markdown else markdown
