"""The floor of the survey submit paths: the least a web app can do for the same request.

``POST /api/v1/public/responses`` parses the JSON body, inserts it as one row and commits, then
answers 201 with the new id — one INSERT and one COMMIT per request, on one connection per
thread kept open. Served by gunicorn with the project's own settings
(``gunicorn -c python:shared.gunicorn_conf … 'bench.floor_app:create_app()'``), so the
difference to the survey service is ClientLoop's own work (link lookup and locking, validation,
scoring, the response, outbox and sequence rows, access log, rate limit…), not the server's.

``BENCH_FLOOR_DATABASE_URL``: ``postgresql://…`` (PostgreSQL, psycopg) or ``sqlite:///path``
(SQLite in WAL mode with ``synchronous=NORMAL`` and ``BEGIN IMMEDIATE``, as the embedded
default configures it). The table is made by :func:`prepare`.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid

from flask import Flask, jsonify, request

TABLE = "floor_response"


def prepare(url: str) -> None:
    """Create the floor's table (empty)."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.split("///", 1)[1])
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id TEXT PRIMARY KEY, body TEXT NOT NULL, "
                           "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
        connection.commit()
        connection.close()
        return
    import psycopg
    with psycopg.connect(url) as connection:
        connection.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id uuid PRIMARY KEY, body json NOT NULL, "
                           "created_at timestamptz NOT NULL DEFAULT now())")


def count(url: str) -> int:
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.split("///", 1)[1])
        try:
            return connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        finally:
            connection.close()
    import psycopg
    with psycopg.connect(url) as connection:
        return connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]


def create_app() -> Flask:
    url = os.environ["BENCH_FLOOR_DATABASE_URL"]
    local = threading.local()
    app = Flask("clientloop-bench-floor")

    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]

        def insert(row_id: str, body: str) -> None:
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = sqlite3.connect(path, timeout=30, isolation_level=None,
                                             check_same_thread=False)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute("PRAGMA busy_timeout=30000")
                local.connection = connection
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(f"INSERT INTO {TABLE} (id, body) VALUES (?, ?)", (row_id, body))
            connection.execute("COMMIT")
    else:
        import psycopg

        def insert(row_id: str, body: str) -> None:
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = psycopg.connect(url)
            connection.execute(f"INSERT INTO {TABLE} (id, body) VALUES (%s, %s)", (row_id, body))
            connection.commit()

    @app.post("/api/v1/public/responses")
    def submit():
        body = request.get_json()
        row_id = str(uuid.uuid4())
        insert(row_id, json.dumps(body, ensure_ascii=False))
        return jsonify(id=row_id), 201

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app
