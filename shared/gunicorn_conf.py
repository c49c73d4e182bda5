"""gunicorn settings for ClientLoop services (``gunicorn -c python:shared.gunicorn_conf``).

Logs are JSON lines on stderr (``shared.logs``), gunicorn's own included, at
``CLIENTLOOP_LOG_LEVEL``; short text lines with ``CLIENTLOOP_LOG_FORMAT=text`` (which
``clientloop up`` sets for its web server when it runs on a terminal). gunicorn's access log
stays off: each app writes one access line per request, with its request id and the link token
redacted.

A request line or header field may be up to 8,190 bytes, as long as the gateway (nginx) lets
through; what gunicorn refuses itself (longer, or not valid HTTP) is answered as problem details
(``shared.web.server_errors``), not gunicorn's HTML page.
"""
import os

from gunicorn.glogging import Logger

from shared.config import REQUEST_TIMEOUT_S, web_threads
from shared.heap import freeze_start_up_objects
from shared.logs import dict_config, log_format
from shared.web import server_errors

worker_class = os.environ.get("CLIENTLOOP_WORKER_CLASS", "gthread")
threads = web_threads()
loglevel = (os.environ.get("CLIENTLOOP_LOG_LEVEL") or "INFO").lower()
logconfig_dict = dict_config(loglevel, log_format())
accesslog = None


class ClientLoopLogger(Logger):
    """gunicorn's logger without its access line: each app writes its own (``clientloop.access``),
    and gunicorn, given a logging configuration, would otherwise build its line's fields for
    every request before the disabled ``gunicorn.access`` logger dropped it."""

    access_log_enabled = False

    def access(self, resp, req, environ, request_time) -> None:
        return None


logger_class = ClientLoopLogger
errorlog = "-"
graceful_timeout = 10
timeout = REQUEST_TIMEOUT_S
limit_request_line = server_errors.MAX_REQUEST_LINE
limit_request_field_size = server_errors.MAX_HEADER_FIELD


def post_worker_init(worker):
    server_errors.install()   # gunicorn's own 400/414/431 answers as problem details
    # The app is built: keep its objects out of the collector's full passes (``shared.heap``).
    freeze_start_up_objects()


def child_exit(server, worker):  # keep prometheus multiprocess files consistent
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)

# Several gunicorns run side by side (one per service); none needs the control socket.
control_socket_disable = True
