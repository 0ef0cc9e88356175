"""Jinja2 pages (zh-CN), autoescaped."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("hotline.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render(template: str, status: int = 200, **context: Any) -> web.Response:
    html = _env.get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
