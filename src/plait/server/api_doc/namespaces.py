"""Namespaces: create, list, describe, update (:mod:`plait.server.api.namespaces`)."""

from __future__ import annotations

from plait.protocol import tenancy
from plait.protocol.openapi import Operation, Reply

__all__ = ["OPERATIONS"]

OPERATIONS: list[Operation] = [
    Operation(
        "POST",
        "/api/v1/namespaces",
        "createNamespace",
        summary="Create a namespace (409 `namespace_already_exists` if it exists)",
        tag="operations",
        request=tenancy.CreateNamespaceRequest,
        replies={201: Reply("The namespace as created.", tenancy.NamespaceInfo)},
        errors=(400, 404, 409, 413, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces",
        "listNamespaces",
        summary="Every namespace (those the API key covers, on a server with --auth)",
        tag="operations",
        replies={200: Reply("The namespaces, by name.", tenancy.NamespaceList)},
        errors=(404, 503),
    ),
    Operation(
        "GET",
        "/api/v1/namespaces/{ns}",
        "describeNamespace",
        summary="One namespace (404 `namespace_not_found` naming the known ones)",
        tag="operations",
        params=["ns"],
        replies={200: Reply("The namespace.", tenancy.NamespaceInfo)},
        errors=(404, 503),
    ),
    Operation(
        "POST",
        "/api/v1/namespaces/{ns}/update",
        "updateNamespace",
        summary="Change a namespace's retention or description",
        tag="operations",
        request=tenancy.UpdateNamespaceRequest,
        params=["ns"],
        replies={200: Reply("The namespace as changed.", tenancy.NamespaceInfo)},
        errors=(400, 404, 413, 503),
    ),
]
