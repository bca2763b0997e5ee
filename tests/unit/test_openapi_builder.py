"""The OpenAPI builder turns structs into the shapes OpenAPI readers expect: field docstrings
as descriptions, named tagged unions with const tags, titled aliases as components."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct

from plait.protocol.openapi import Document, Operation, Reply, build_document

Blob = Annotated[dict[str, Any], Meta(title="Blob", extra_json_schema={"required": ["x"]})]


class Fail(Struct, kw_only=True):
    """The one error shape."""

    message: str


class _Shape(Struct, kw_only=True, tag_field="kind"):
    pass


class Circle(_Shape, kw_only=True, tag="circle"):
    radius: float
    """How far the edge is from the centre."""


class Square(_Shape, kw_only=True, tag="square"):
    side: float
    blobs: list[Blob] | None = None


Shape = Circle | Square
"""A circle or a square."""


class Draw(Struct, kw_only=True):
    """Draw some shapes."""

    shapes: list[Shape]


def build() -> Document:
    op = Operation("POST", "/draw", "draw", "Draw shapes", "shapes", request=Draw,
                   replies={200: Reply("Drawn.", Draw)}, errors=(400,))
    return build_document([op], info={"title": "t", "version": "1"}, tags=[],
                          parameters={}, responses={400: ("BadRequest", "Bad.")}, error=Fail,
                          named={"Shape": Shape})


def test_named_unions_field_docs_and_titled_aliases() -> None:
    doc = build()
    schemas = doc["components"]["schemas"]
    assert schemas["Draw"]["properties"]["shapes"]["items"] == {
        "$ref": "#/components/schemas/Shape"}
    assert schemas["Shape"]["description"] == "A circle or a square."
    assert schemas["Shape"]["discriminator"]["mapping"] == {
        "circle": "#/components/schemas/Circle", "square": "#/components/schemas/Square"}
    assert [b["$ref"] for b in schemas["Shape"]["oneOf"]] == [
        "#/components/schemas/Circle", "#/components/schemas/Square"]
    assert schemas["Circle"]["properties"]["kind"] == {"type": "string", "const": "circle"}
    assert schemas["Circle"]["properties"]["radius"]["description"] == \
        "How far the edge is from the centre."
    blobs = schemas["Square"]["properties"]["blobs"]["anyOf"][0]
    assert blobs["items"] == {"$ref": "#/components/schemas/Blob"}
    assert schemas["Blob"]["required"] == ["x"]


def test_operations_point_at_their_structs_and_shared_errors() -> None:
    op = build()["paths"]["/draw"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Draw"}
    assert op["responses"]["400"] == {"$ref": "#/components/responses/BadRequest"}
    shared = build()["components"]["responses"]["BadRequest"]
    assert shared["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Fail"}


def test_operations_that_take_credentials_declare_401_and_403() -> None:
    """Generated for every operation not marked public, so no route can forget them."""
    guarded = Operation("GET", "/shapes", "listShapes", "List", "shapes",
                        replies={200: Reply("Listed.", Draw)})
    public = Operation("GET", "/health", "health", "Alive", "shapes", public=True,
                       replies={200: Reply("Alive.", Draw)})
    doc = build_document([guarded, public], info={"title": "t", "version": "1"}, tags=[],
                         parameters={}, error=Fail, named={},
                         responses={401: ("Unauthenticated", "No key."),
                                    403: ("PermissionDenied", "Not yours.")})
    assert doc["paths"]["/shapes"]["get"]["responses"]["401"] == {
        "$ref": "#/components/responses/Unauthenticated"}
    assert doc["paths"]["/shapes"]["get"]["responses"]["403"] == {
        "$ref": "#/components/responses/PermissionDenied"}
    assert set(doc["paths"]["/health"]["get"]["responses"]) == {"200"}
    assert "401" not in build()["paths"]["/draw"]["post"]["responses"]  # none shared: none
