"""The embedded default: every service under its prefix on one port.

``wsgi()`` is the WSGI entry point ``clientloop up`` serves with gunicorn:
``/registry``, ``/survey`` and ``/complaints`` are each service's own Flask app, each answering
at its prefix (``/registry/``) with an index of what it serves (``shared.web.index``). ``/``
lists the prefixes, as the production gateway does; any other path is a problem-details 404.
"""
from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from shared.config import Settings
from shared.runtime import available_services, service_module
from shared.web.app import JSONProvider, log_requests
from shared.web.problems import problem


def wsgi(settings: Settings | None = None):
    settings = settings or Settings.from_env()
    mounts = {f"/{name}": service_module(name).create_app(settings) for name in available_services()}
    root = Flask("clientloop")
    root.json = JSONProvider(root)
    log_requests(root)  # the paths no service serves get their access line too

    @root.get("/")
    def index():
        return jsonify(name="ClientLoop", services={name.strip("/"): f"{name}/" for name in mounts})

    @root.errorhandler(404)
    def not_found(_error):
        prefixes = [f"{name}/" for name in mounts]
        where = " or ".join(filter(None, [", ".join(prefixes[:-1]), prefixes[-1]]))
        return problem(404, f"No service at this path; try {where}.")

    @root.errorhandler(405)
    def not_allowed(_error):
        return problem(405)

    return DispatcherMiddleware(root, mounts)
