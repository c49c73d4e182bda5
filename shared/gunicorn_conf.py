"""gunicorn settings for ClientLoop services (``gunicorn -c python:shared.gunicorn_conf``).

Logs are JSON lines on stderr (``shared.logs``), gunicorn's own included, at
``CLIENTLOOP_LOG_LEVEL``. gunicorn's access log stays off: each app writes one access line per
request, with its request id and the link token redacted.
"""
import os

from shared.logs import dict_config

worker_class = os.environ.get("CLIENTLOOP_WORKER_CLASS", "gthread")
threads = int(os.environ.get("CLIENTLOOP_THREADS", "4"))
loglevel = (os.environ.get("CLIENTLOOP_LOG_LEVEL") or "INFO").lower()
logconfig_dict = dict_config(loglevel)
accesslog = None
errorlog = "-"
graceful_timeout = 10
timeout = 60


def child_exit(server, worker):  # keep prometheus multiprocess files consistent
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)

# Several gunicorns run side by side (one per service); none needs the control socket.
control_socket_disable = True
