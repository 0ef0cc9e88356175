"""OpenAPI 3.1 document built from the routes themselves: each API handler carries its summary
and pydantic models (`@operation`), so the document cannot drift from the code."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from hotline.auth.policy import PUBLIC, access_of
from hotline.web.schemas import ErrorOut

F = TypeVar("F", bound=Callable[..., Any])
OPERATION_ATTRIBUTE = "__hotline_operation__"


def operation(
    summary: str,
    *,
    response: Any = None,
    body: type[BaseModel] | None = None,
    status: int = 200,
    query: dict[str, str] | None = None,
) -> Callable[[F], F]:
    def decorate(handler: F) -> F:
        setattr(handler, OPERATION_ATTRIBUTE, {
            "summary": summary, "response": response, "body": body, "status": status,
            "query": query or {},
        })
        return handler

    return decorate


def _schema(annotation: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(annotation).json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        # A model is a named component, referenced, as the models nested in it already are.
        components[annotation.__name__] = schema
        return {"$ref": f"#/components/schemas/{annotation.__name__}"}
    return schema


def build_document(app: web.Application, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    components["ErrorOut"] = ErrorOut.model_json_schema()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        meta = getattr(route.handler, OPERATION_ATTRIBUTE, None)
        if not path or meta is None or route.method == "HEAD":
            continue
        access = access_of(route.handler)
        op: dict[str, Any] = {
            "summary": meta["summary"],
            "operationId": route.handler.__name__,
            "responses": {"400": {"description": "invalid input", **error}},
        }
        if access != PUBLIC:
            op["security"] = [{"session": []}]
            op["x-roles"] = sorted(str(r) for r in access or ())
            op["responses"].update({"401": {"description": "login required", **error},
                                    "403": {"description": "role or CSRF refused", **error}})
        ok: dict[str, Any] = {"description": "OK"}
        if meta["response"] is not None:
            ok["content"] = {"application/json": {"schema": _schema(meta["response"], components)}}
        op["responses"][str(meta["status"])] = ok
        if meta["body"] is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": _schema(meta["body"], components)}}}
        params = [{"name": n, "in": "query", "required": False, "description": d,
                   "schema": {"type": "string"}} for n, d in meta["query"].items()]
        params += [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                   for n in _path_params(path)]
        if params:
            op["parameters"] = params
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {"session": {
                "type": "apiKey", "in": "cookie", "name": "hotline_session",
                "description": "Log in at /login. Unsafe methods also need the X-CSRF-Token "
                               "header (GET /api/me returns it).",
            }},
        },
    }


def _path_params(path: str) -> list[str]:
    return re.findall(r"\{(\w+)", path)
