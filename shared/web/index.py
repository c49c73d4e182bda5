"""What a service answers at its own root (``/registry/``, ``/survey/``, ``/complaints/``).

A small index of what the service serves: its name and description, and links to its OpenAPI
document, the base of its API, its health and readiness checks, and — when the service serves
them — its interactive API reference (``docs``) and its staff console (``console``). JSON by
default; a short HTML page for a browser (one that prefers ``text/html``).

Links are paths from the server's root, with the service's prefix (``/registry/openapi.json``),
as the embedded default mounts it or as the gateway forwards it (``X-Forwarded-Prefix``).
"""
from __future__ import annotations

from flask import Flask, Response, jsonify, request
from markupsafe import escape

#: The links every service has, as paths below its prefix.
LINKS = (("openapi", "/openapi.json"), ("api", "/api/v1/"), ("health", "/healthz"),
         ("ready", "/readyz"))
#: The links a service has once it serves the path (a URL rule of that name).
OPTIONAL_LINKS = (("docs", "/docs"), ("console", "/console"))
TITLES = {"openapi": "OpenAPI document", "api": "API base (bearer token)", "health": "Health",
          "ready": "Readiness", "docs": "API reference", "console": "Console"}


def service_links(app: Flask, prefix: str = "") -> dict[str, str]:
    """Name → path of what ``app`` serves, each path under ``prefix``."""
    served = {rule.rule.rstrip("/") for rule in app.url_map.iter_rules()}
    links = {"self": f"{prefix}/"}
    links.update((name, prefix + path) for name, path in LINKS)
    links.update((name, prefix + path) for name, path in OPTIONAL_LINKS if path in served)
    return links


def init_index(app: Flask, *, service: str, title: str, description: str) -> None:
    @app.get("/", endpoint="service_index")
    def service_index():
        index = {"name": service, "title": title, "description": description,
                 "links": service_links(app, request.script_root)}
        if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
            response = Response(_html(index), content_type="text/html; charset=utf-8")
        else:
            response = jsonify(index)
        response.vary.add("Accept")
        return response


def _html(index: dict) -> str:
    items = "".join(
        f'<li><a href="{escape(path)}">{escape(TITLES.get(name, name))}</a> <code>{escape(path)}</code></li>'
        for name, path in index["links"].items() if name not in ("self", "api"))
    api = escape(index["links"]["api"])
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(index["title"])}</title></head><body>'
            f'<h1>{escape(index["title"])}</h1><p>{escape(index["description"])}</p>'
            f'<p>The API is under <code>{api}</code>; every request needs a bearer token '
            f'(<code>clientloop token create --role staff --name NAME</code>).</p>'
            f'<ul>{items}</ul></body></html>')
