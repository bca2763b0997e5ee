"""Build an OpenAPI 3.1 document from a route table and the wire structs.

The schemas come from :func:`msgspec.json.schema_components`, so the document cannot say
anything the decoder does not enforce; this module only shapes them the way OpenAPI readers
expect: field docstrings become descriptions, tagged unions become named ``oneOf``s with a
discriminator and ``const`` tags, and aliases given a ``title`` (``Payload``) become named
components instead of being repeated inline.
"""

from __future__ import annotations

import ast
import enum
import functools
import inspect
import itertools
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

import msgspec

__all__ = [
    "Components",
    "Document",
    "InfoObject",
    "MediaTypeObject",
    "Operation",
    "OperationObject",
    "Param",
    "ParameterObject",
    "ReferenceObject",
    "Reply",
    "RequestBodyObject",
    "ResponseObject",
    "Schema",
    "SecurityRequirement",
    "build_document",
    "query_params",
]

REF = "#/components/schemas/{name}"
JSON = "application/json"

Schema = dict[str, Any]
"""A JSON Schema (OpenAPI 3.1's Schema Object is JSON Schema 2020-12), as the JSON it is
written in. It has no narrower shape: any keyword may appear, and a keyword's value may be a
nested schema, a list of them or a literal; msgspec generates these and this module walks
them generically. The OpenAPI objects around them have fixed shapes, typed below."""

ReferenceObject = TypedDict("ReferenceObject", {"$ref": str})
"""``{"$ref": "#/components/..."}``: a component used in place of the object itself."""

ParameterObject = TypedDict("ParameterObject", {
    "name": str,
    "in": str,
    "required": NotRequired[bool],
    "description": NotRequired[str],
    "schema": NotRequired[Schema],  # optional in OpenAPI (``content`` may replace it)
})
"""A path or query parameter as the document shows it."""


class MediaTypeObject(TypedDict):
    """The body of one media type."""

    schema: Schema


class RequestBodyObject(TypedDict):
    required: bool
    content: dict[str, MediaTypeObject]


class ResponseObject(TypedDict):
    description: str
    content: NotRequired[dict[str, MediaTypeObject]]


SecurityRequirement = dict[str, list[str]]
"""``{"scheme name": []}``: a request satisfies it by presenting that scheme's credentials."""


class OperationObject(TypedDict):
    """One method of one path."""

    operationId: str
    tags: list[str]
    summary: str
    description: NotRequired[str]
    security: NotRequired[list[SecurityRequirement]]
    """``[]`` on a route that needs no credentials where the document asks for some."""
    parameters: NotRequired[list[ParameterObject | ReferenceObject]]
    requestBody: NotRequired[RequestBodyObject]
    responses: NotRequired[dict[str, ResponseObject | ReferenceObject]]
    """Optional in OpenAPI 3.1. The builder always writes it, last: a TypedDict literal must
    hold every required key, and the served JSON keeps the order it is written in."""


class InfoObject(TypedDict):
    title: str
    version: str
    summary: NotRequired[str]
    description: NotRequired[str]
    license: NotRequired[dict[str, str]]


class Components(TypedDict):
    parameters: dict[str, ParameterObject]
    responses: dict[str, ResponseObject]
    schemas: dict[str, Schema]
    securitySchemes: NotRequired[dict[str, dict[str, str]]]


class Document(TypedDict):
    """The whole OpenAPI document."""

    openapi: str
    info: InfoObject
    servers: list[dict[str, str]]
    tags: list[dict[str, str]]
    paths: dict[str, dict[str, OperationObject]]
    """Path, then lower-case method."""
    components: Components
    security: NotRequired[list[SecurityRequirement]]
    """What every operation needs unless it says otherwise."""


@dataclass(frozen=True)
class Param:
    """A path or query parameter (query parameters may also come from a query struct)."""

    name: str
    where: str = "query"
    """``path`` or ``query``."""
    schema: Schema = field(default_factory=lambda: {"type": "string"})
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Reply:
    """One documented response: a JSON body of ``body`` (a type) or of ``schema`` (a raw
    schema), or another media type."""

    description: str
    body: Any = None
    schema: Schema | None = None
    media: str = JSON


@dataclass(frozen=True)
class Operation:
    """One route of the API, as the document shows it."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    request: Any = None
    """The struct of the JSON body, or None for no body."""
    replies: Mapping[int, Reply] = field(default_factory=dict)
    errors: Sequence[int] = ()
    """Statuses answered with the shared error responses (``components.responses``)."""
    params: Sequence[Param | str] = ()
    """Parameters, or the names of shared ones (``components.parameters``)."""
    description: str = ""
    public: bool = False
    """Needs no credentials even where the document asks for some (``security: []``)."""


def query_params(struct: type[msgspec.Struct]) -> list[Param]:
    """The query parameters a query struct declares (read with ``msgspec.convert``)."""
    _, components = msgspec.json.schema_components([struct], ref_template=REF)
    schema = components[struct.__name__]
    docs = field_docs(struct)
    required = set(schema.get("required", ()))
    return [Param(name, "query", _without_null(prop), docs.get(name, ""), name in required)
            for name, prop in schema["properties"].items()]


def _without_null(prop: Schema) -> Schema:
    """A query parameter is absent rather than null: drop the null branch and default."""
    branches = [b for b in prop.get("anyOf", ()) if b != {"type": "null"}]
    if len(branches) == 1:
        return branches[0]  # type: ignore[no-any-return]
    return {k: v for k, v in prop.items() if k != "default" or v is not None}


def build_document(operations: Iterable[Operation], *, info: InfoObject,
                   tags: Sequence[Mapping[str, str]], parameters: Mapping[str, ParameterObject],
                   responses: Mapping[int, tuple[str, str]], error: type[msgspec.Struct],
                   named: Mapping[str, Any],
                   security: Mapping[str, dict[str, str]] | None = None) -> Document:
    """The whole document. ``responses`` maps an error status to its shared response's name
    and description; ``named`` gives names to unions (and other types) that should be
    components of their own (they are types, as ``error`` is). ``security`` names the
    credential schemes every operation not marked ``public`` takes (any one of them)."""
    ops = list(operations)
    types = [error, *named.values()]
    for op in ops:
        types += [op.request] if op.request is not None else []
        types += [r.body for r in op.replies.values() if r.body is not None]
    refs, schemas = msgspec.json.schema_components(types, ref_template=REF)
    by_type = {id(t): ref for t, ref in zip(types, refs, strict=True)}
    _describe_fields(schemas, types)
    inline = {name: by_type[id(t)] for name, t in named.items() if "$ref" not in by_type[id(t)]}
    schemas = _name_components(schemas, inline, named)
    shared = {status: name for status, (name, _) in responses.items()}
    paths: dict[str, dict[str, OperationObject]] = {}
    for op in ops:
        item = paths.setdefault(op.path, {})
        item[op.method.lower()] = _operation(op, by_type, shared)
    error_ref = by_type[id(error)]
    doc: Document = {
        "openapi": "3.1.0", "info": info.copy(), "servers": [{"url": "/"}],
        "tags": [dict(t) for t in tags], "paths": _hoisted(paths, inline),
        "components": {
            "parameters": dict(parameters),
            "responses": {name: {"description": text, "content": {JSON: {"schema": error_ref}}}
                          for name, text in responses.values()},
            "schemas": dict(sorted(schemas.items())),
        },
    }
    if security:
        doc["components"]["securitySchemes"] = {k: dict(v) for k, v in security.items()}
        doc["security"] = [{name: []} for name in security]
    return doc


_AUTH_STATUSES = (401, 403)
"""What a server that checks keys answers a caller it does not admit."""


def _operation(op: Operation, by_type: Mapping[int, Schema],
               shared: Mapping[int, str]) -> OperationObject:
    out: OperationObject = {"operationId": op.operation_id, "tags": [op.tag],
                            "summary": op.summary}
    if op.description:
        out["description"] = op.description
    if op.public:
        out["security"] = []
    if op.params:
        out["parameters"] = [_param(p) for p in op.params]
    if op.request is not None:
        out["requestBody"] = {"required": True,
                              "content": {JSON: {"schema": by_type[id(op.request)]}}}
    replies: dict[str, ResponseObject | ReferenceObject] = {}
    for status, reply in op.replies.items():
        schema = by_type[id(reply.body)] if reply.body is not None else reply.schema
        body: ResponseObject = {"description": reply.description}
        if schema is not None:
            body["content"] = {reply.media: {"schema": dict(schema)}}
        replies[str(status)] = body
    # Every route with a body refuses the bodies a browser sends cross-site (415); every
    # route that takes credentials refuses a caller without a valid key (401) or without the
    # role or namespace (403), when the shared responses name those statuses.
    statuses = {*op.errors, *([415] if op.request is not None and 415 in shared else [])}
    if not op.public:
        statuses |= {s for s in _AUTH_STATUSES if s in shared}
    for status in sorted(statuses):
        replies[str(status)] = {"$ref": f"#/components/responses/{shared[status]}"}
    out["responses"] = replies
    return out


def _param(p: Param | str) -> ParameterObject | ReferenceObject:
    if isinstance(p, str):
        return {"$ref": f"#/components/parameters/{p}"}
    out: ParameterObject = {"name": p.name, "in": p.where}
    if p.required or p.where == "path":
        out["required"] = True
    if p.description:
        out["description"] = p.description
    out["schema"] = dict(p.schema)
    return out


# -- shaping msgspec's schemas ----------------------------------------------------------------
def _describe_fields(schemas: dict[str, Schema], types: Iterable[Any]) -> None:
    """Put each field's docstring into its property's description, and list each enum's
    values in the order the enum defines them (msgspec sorts them)."""
    for cls in _classes(types):
        schema = schemas.get(cls.__name__)
        if schema is None:
            continue
        if issubclass(cls, enum.Enum):
            schema["enum"] = [member.value for member in cls]
            continue
        for name, doc in field_docs(cls).items():
            prop = schema.get("properties", {}).get(name)
            if prop is not None:
                prop["description"] = doc


def _classes(types: Iterable[Any]) -> list[type]:
    """Every Struct and Enum class reachable from ``types`` (through fields, unions,
    containers)."""
    seen: dict[type, None] = {}
    stack: list[Any] = list(msgspec.inspect.multi_type_info(list(types)))
    while stack:
        t = stack.pop()
        if isinstance(t, msgspec.inspect.EnumType):
            seen[t.cls] = None
        elif isinstance(t, msgspec.inspect.StructType):
            if t.cls not in seen:
                seen[t.cls] = None
                stack += [f.type for f in t.fields]
        elif isinstance(t, msgspec.inspect.UnionType):
            stack += t.types
        elif isinstance(t, msgspec.inspect.Metadata):
            stack.append(t.type)
        elif isinstance(t, msgspec.inspect.DictType):
            stack.append(t.value_type)
        elif hasattr(t, "item_type"):  # list, set, frozenset, variadic tuple
            stack.append(t.item_type)
    return list(seen)


def field_docs(cls: type) -> dict[str, str]:
    """The docstrings written under the fields of ``cls`` and its bases, by field name."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if issubclass(klass, msgspec.Struct) and klass is not msgspec.Struct:
            docs.update(_own_field_docs(klass))
    return docs


@functools.cache
def _own_field_docs(cls: type) -> dict[str, str]:
    path = inspect.getsourcefile(sys.modules[cls.__module__])
    if path is None:  # no source (a zipped or compiled install): no descriptions
        return {}
    tree = _module_ast(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return _docs_in(node.body)
    return {}


@functools.cache
def _module_ast(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read())


def alias_doc(union: Any, name: str) -> str:
    """The docstring under ``name = <union>`` in the module of the union's first member."""
    members = getattr(union, "__args__", ())
    module = sys.modules.get(getattr(members[0], "__module__", "")) if members else None
    path = inspect.getsourcefile(module) if module is not None else None
    if path is None:
        return ""
    body = _module_ast(path).body
    for stmt, nxt in itertools.pairwise(body):
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in stmt.targets) \
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) \
                and isinstance(nxt.value.value, str):
            return " ".join(nxt.value.value.split())
    return ""


def _docs_in(body: list[ast.stmt]) -> dict[str, str]:
    docs = {}
    for stmt, nxt in itertools.pairwise(body):
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) \
                and isinstance(nxt.value.value, str):
            docs[stmt.target.id] = " ".join(textwrap.dedent(nxt.value.value).split())
    return docs


def _name_components(schemas: dict[str, Schema], inline: Mapping[str, Schema],
                     named: Mapping[str, Any]) -> dict[str, Schema]:
    """Give named unions and titled aliases components of their own, tagged unions a
    ``oneOf`` (their branches exclude each other by the tag) and tags a ``const``."""
    schemas = _hoisted(schemas, inline)
    for name, schema in inline.items():
        schemas[name] = _union(schema)
        doc = alias_doc(named[name], name)
        if doc:
            schemas[name] = {"description": doc, **schemas[name]}
    found: dict[str, Schema] = {}
    out = {name: _titled({k: v for k, v in schema.items() if k != "title"}, found)
           for name, schema in schemas.items()}
    for name, schema in found.items():
        out.setdefault(name, schema)
    return {name: _consts(schema) for name, schema in out.items()}


def _hoisted(value: Any, inline: Mapping[str, Schema]) -> Any:
    """``value`` with every occurrence of a named union replaced by a reference to it."""
    for name, schema in inline.items():
        if value == schema:
            return {"$ref": REF.format(name=name)}
    if isinstance(value, dict):
        return {k: _hoisted(v, inline) for k, v in value.items()}
    if isinstance(value, list):
        return [_hoisted(v, inline) for v in value]
    return value


def _union(schema: Schema) -> Schema:
    if "discriminator" in schema and "anyOf" in schema:
        return {"oneOf": schema["anyOf"], "discriminator": schema["discriminator"]}
    return schema


def _titled(value: Any, found: dict[str, Schema]) -> Any:
    """Replace inline schemas that have a title (aliases such as ``Payload``) with
    references, collecting them in ``found``."""
    if isinstance(value, dict):
        if isinstance(value.get("title"), str):
            name = value["title"]
            found[name] = _titled({k: v for k, v in value.items() if k != "title"}, found)
            return {"$ref": REF.format(name=name)}
        return {k: _titled(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_titled(v, found) for v in value]
    return value


def _consts(value: Any) -> Any:
    """A one-value enum (a union's tag, a ``Literal``) reads better as ``const``."""
    if isinstance(value, dict):
        enum = value.get("enum")
        if isinstance(enum, list) and len(enum) == 1 and set(value) == {"enum"}:
            const = enum[0]
            kind = {str: "string", bool: "boolean", int: "integer"}.get(type(const))
            return {"type": kind, "const": const} if kind else {"const": const}
        return {k: _consts(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_consts(v) for v in value]
    return value
