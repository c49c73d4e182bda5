"""Prometheus metrics at ``/metrics``.

Each app has its own ``CollectorRegistry`` (several apps share one process in the embedded
run). Under gunicorn with several workers set ``PROMETHEUS_MULTIPROC_DIR`` (``clientloop
serve`` does it): every worker writes its samples there and ``/metrics`` merges them.

Labels never carry what a caller typed: the endpoint is the matched route's pattern
(``/s/<token>``, never a link's token) or ``unmatched``, and an unusual method is ``other``.
"""
from __future__ import annotations

import os
import time
from typing import Callable

from flask import Flask, Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REGISTRY = "clientloop_metrics"
_BEFORE_SCRAPE = "clientloop_metrics_before_scrape"
_OBSERVE = "clientloop_metrics_observe"


def init_metrics(app: Flask, service: str) -> None:
    registry = CollectorRegistry(auto_describe=True)
    app.extensions[_REGISTRY] = registry
    app.extensions[_BEFORE_SCRAPE] = []
    requests_total = Counter("clientloop_http_requests_total", "HTTP requests answered",
                             ["service", "method", "endpoint", "status"], registry=registry)
    latency = Histogram("clientloop_http_request_duration_seconds", "Time to answer a request",
                        ["service", "method", "endpoint"], registry=registry)

    def observe(method: str, endpoint: str, status: str, seconds: float) -> None:
        requests_total.labels(service, method, endpoint, status).inc()
        latency.labels(service, method, endpoint).observe(seconds)

    app.extensions[_OBSERVE] = observe

    @app.before_request
    def _start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.pop("metrics_started", None)
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        method = request.method if request.method in METHODS else "other"
        requests_total.labels(service, method, endpoint, str(response.status_code)).inc()
        if started is not None:
            latency.labels(service, method, endpoint).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics():
        for refresh in app.extensions[_BEFORE_SCRAPE]:
            refresh()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            payload = generate_latest(merged)
        else:
            payload = generate_latest(registry)
        return Response(payload, content_type=CONTENT_TYPE_LATEST)


def observer(app: Flask) -> Callable[[str, str, str, float], None]:
    """``observe(method, endpoint, status, seconds)``: count a request answered outside Flask's
    dispatch (``endpoint`` the route's pattern) as the app's own requests are counted."""
    return app.extensions[_OBSERVE]


def gauge(app: Flask, name: str, documentation: str, labels: list[str]) -> Gauge:
    """A gauge on the app's registry; across gunicorn workers the latest value set wins."""
    return Gauge(name, documentation, labels, registry=app.extensions[_REGISTRY],
                 multiprocess_mode="mostrecent")


def before_scrape(app: Flask, refresh: Callable[[], object]) -> None:
    """Call ``refresh`` (e.g. a cached dependency check) before each ``/metrics`` answer."""
    app.extensions[_BEFORE_SCRAPE].append(refresh)
