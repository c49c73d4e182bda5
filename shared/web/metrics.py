"""Prometheus metrics at ``/metrics``.

Each app has its own ``CollectorRegistry`` (several apps share one process in the embedded
run). Under gunicorn with several workers set ``PROMETHEUS_MULTIPROC_DIR`` (``clientloop
serve`` does it): every worker writes its samples there and ``/metrics`` merges them.
"""
from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess)


def init_metrics(app: Flask, service: str) -> None:
    registry = CollectorRegistry(auto_describe=True)
    requests_total = Counter("clientloop_http_requests_total", "HTTP requests answered",
                             ["service", "method", "endpoint", "status"], registry=registry)
    latency = Histogram("clientloop_http_request_duration_seconds", "Time to answer a request",
                        ["service", "method", "endpoint"], registry=registry)

    @app.before_request
    def _start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.pop("metrics_started", None)
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        requests_total.labels(service, request.method, endpoint, str(response.status_code)).inc()
        if started is not None:
            latency.labels(service, request.method, endpoint).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics():
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            payload = generate_latest(merged)
        else:
            payload = generate_latest(registry)
        return Response(payload, content_type=CONTENT_TYPE_LATEST)
