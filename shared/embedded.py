"""The embedded default: every service under its prefix on one port.

``wsgi()`` is the WSGI entry point ``clientloop up`` serves with gunicorn:
``/registry``, ``/survey`` and ``/complaints`` are each service's own Flask app.
"""
from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from shared.config import Settings
from shared.runtime import available_services, service_module
from shared.web.app import log_requests
from shared.web.problems import problem


def wsgi(settings: Settings | None = None):
    settings = settings or Settings.from_env()
    mounts = {f"/{name}": service_module(name).create_app(settings) for name in available_services()}
    root = Flask("clientloop")
    log_requests(root)  # the paths no service serves get their access line too

    @root.get("/")
    def index():
        return jsonify(name="ClientLoop", services={name.strip("/"): f"{name}/" for name in mounts})

    @root.errorhandler(404)
    def not_found(_error):
        return problem(404, "No service at this path; try /registry, /survey or /complaints.")

    @root.errorhandler(405)
    def not_allowed(_error):
        return problem(405)

    return DispatcherMiddleware(root, mounts)
