"""The interactive API reference of each service: Swagger UI at ``/docs``, beside ``/openapi.json``.

Swagger UI's files come from the ``swagger-ui-bundle`` package and are served by the service
itself under ``/docs/assets/``; the page loads nothing from another site (no CDN), runs no
inline script (its start-up is ``api-reference.js``) and never sends the document to Swagger's
online validator. Behind the gateway or in the embedded default the page and its assets are
under the service's prefix (``/registry/docs``). "Authorize" takes a bearer token from
``clientloop token create``; the reference itself needs none.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, request, send_from_directory
from markupsafe import escape

STATIC = Path(__file__).parent / "static"
ASSET_MAX_AGE_S = 3600
#: The page may use only what the service serves (styles inline: Swagger UI sets some).
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def swagger_ui_folder() -> Path:
    from swagger_ui_bundle import swagger_ui_path
    return Path(str(swagger_ui_path))


def init_reference(app: Flask, *, title: str) -> None:
    blueprint = Blueprint("api_reference", __name__)

    @blueprint.get("/docs")
    def api_reference():
        response = Response(_page(title, request.script_root),
                            content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @blueprint.get("/docs/assets/<path:filename>")
    def api_reference_asset(filename: str):
        folder = STATIC if filename == "api-reference.js" else swagger_ui_folder()
        response = send_from_directory(folder, filename, max_age=ASSET_MAX_AGE_S)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    app.register_blueprint(blueprint)


def _page(title: str, prefix: str) -> str:
    assets = f"{escape(prefix)}/docs/assets"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)} — API reference</title>'
        f'<link rel="stylesheet" href="{assets}/swagger-ui.css">'
        f'<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">'
        '</head><body>'
        f'<div id="swagger-ui" data-openapi-url="{escape(prefix)}/openapi.json"></div>'
        f'<script src="{assets}/swagger-ui-bundle.js"></script>'
        f'<script src="{assets}/api-reference.js"></script>'
        '</body></html>')
