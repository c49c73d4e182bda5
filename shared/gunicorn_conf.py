"""gunicorn settings for ClientLoop services (``gunicorn -c python:shared.gunicorn_conf``)."""
import os

worker_class = os.environ.get("CLIENTLOOP_WORKER_CLASS", "gthread")
threads = int(os.environ.get("CLIENTLOOP_THREADS", "4"))
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
