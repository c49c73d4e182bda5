"""The ``clientloop`` command line. Whoever can run it on a server is an admin."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timezone

from shared.auth import ROLES, issue
from shared.config import MAX_TOKEN_DAYS, Settings, background_nice
from shared.heap import freeze_start_up_objects
from shared.logs import configure as configure_logs


def _settings(args, *, create_key: bool = True) -> Settings:
    data_dir = getattr(args, "data_dir", None)
    return Settings.from_env(data_dir=data_dir, create_key=create_key)


def _token_settings(args) -> Settings:
    """The token commands use the suite's key and never make one: a token signed with a key
    made on the spot, in a folder no suite runs from, would be refused everywhere."""
    return _settings(args, create_key=False)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def cmd_token_create(args) -> int:
    from shared import token_commands
    settings = _token_settings(args)
    days = args.days if args.days is not None else settings.token_days
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValueError(f"--days must be from 1 to {MAX_TOKEN_DAYS}, got {days}")
    _warn_unconfigured(settings, "will not list this token")
    print(token_commands.create(settings, name=args.name, role=args.role, days=days,
                                now=datetime.now(timezone.utc)))
    return 0


def cmd_console_link(args) -> int:
    """A one-time sign-in link to the staff console, valid 15 minutes."""
    from shared import token_commands
    from shared.sign_in_links import LINK_MINUTES
    settings = _token_settings(args)
    public_url = settings.public_url or _running_url(settings) \
        or f"http://{settings.host}:{settings.port}"
    link = token_commands.create_link(settings, name=args.name, role=args.role,
                                      now=datetime.now(timezone.utc), public_url=public_url)
    print(link)
    print(f"signs in {args.name.strip()} ({args.role}) once, within {LINK_MINUTES} minutes",
          file=sys.stderr)
    return 0


def _running_url(settings: Settings) -> str | None:
    """The address of the ``clientloop up`` running on this data folder, if one is."""
    from shared.startup import running_url
    return running_url(settings.data_dir)


def cmd_token_list(args) -> int:
    from shared import token_commands
    settings = _token_settings(args)
    _warn_unconfigured(settings, "are not read")
    for line in token_commands.listing(settings):
        print(json.dumps(line, ensure_ascii=False))
    return 0


def cmd_token_revoke(args) -> int:
    from shared import token_commands
    revoked_id, services, known = token_commands.revoke(_token_settings(args), args.id,
                                                        now=datetime.now(timezone.utc))
    print(revoked_id)
    print(f"revoked in {', '.join(services)}: every service refuses it within 5 seconds"
          + ("" if known else " (no database had recorded this token)"), file=sys.stderr)
    return 0


def _warn_unconfigured(settings: Settings, consequence: str) -> None:
    from shared.token_commands import missing_databases
    for variable in missing_databases(settings):
        print(f"clientloop: warning: {variable} is not set; that service's tokens {consequence}",
              file=sys.stderr)


def cmd_migrate(args) -> int:
    from shared.runtime import migrate, service_module
    settings = _settings(args)
    service_module(args.service)
    migrate(args.service, settings)
    print(f"{args.service}: database is at the latest migration")
    return 0


def cmd_serve(args) -> int:
    from shared.runtime import service_module
    service_module(args.service)
    _settings(args)  # refuse a bad configuration (a weak secret key) here, in one line
    env = dict(os.environ)
    if args.workers > 1 and not env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=f"clientloop-{args.service}-metrics-")
    command = [sys.executable, "-m", "gunicorn", "-c", "python:shared.gunicorn_conf",
               "--bind", args.bind, "--workers", str(args.workers),
               f"services.{args.service}.app:create_app()"]
    os.execvpe(command[0], command, env)
    return 0  # pragma: no cover


def _service_context(args):
    """Settings, logs (JSON unless ``CLIENTLOOP_LOG_FORMAT=text``) and the named service's
    context, for its long-running processes."""
    from shared.logs import log_format
    from shared.runtime import service_module
    settings = _settings(args)
    configure_logs(settings.log_level, log_format())
    return service_module(args.service).build_context(settings)


def cmd_relay(args) -> int:
    from shared.runtime import Workers, make_dispatcher, make_relay
    ctx = _service_context(args)
    workers = Workers(_stop_on_signals())
    relay = make_relay(args.service, ctx)
    freeze_start_up_objects()
    # The webhook dispatcher runs beside the relay, on a thread of its own.
    workers.start(f"{args.service}-webhooks", make_dispatcher(args.service, ctx).run)
    relay.run(workers.stop)
    workers.shutdown()
    return 0


def cmd_consume(args) -> int:
    from shared.runtime import Workers
    ctx = _service_context(args)
    freeze_start_up_objects()
    workers = Workers(_stop_on_signals())
    workers.start_service(args.service, ctx, relay=False)  # the consumer, and the jobs beside it
    workers.wait()
    workers.shutdown()
    return 0


def cmd_jobs(args) -> int:
    from shared.runtime import run_jobs_once
    run_jobs_once(args.service, _service_context(args))
    return 0


def cmd_dlq_list(args) -> int:
    from shared.bus.dlq import list_dead_letters
    from shared.runtime import service_module
    service_module(args.service)
    letters = list_dead_letters(_settings(args).broker_url, args.service)
    for letter in letters:
        print(json.dumps({"id": letter.event_id, "type": letter.event_type, "subject": letter.subject,
                          "error": letter.error}, ensure_ascii=False))
    print(f"{len(letters)} dead-lettered event(s) on {args.service}.events.dlq", file=sys.stderr)
    return 0


def cmd_dlq_replay(args) -> int:
    from shared.bus.dlq import replay
    from shared.runtime import service_module
    service_module(args.service)
    replayed = replay(_settings(args).broker_url, args.service, args.ids)
    for event_id in replayed:
        print(event_id)
    print(f"{len(replayed)} event(s) re-delivered to {args.service}.events", file=sys.stderr)
    return 0


def cmd_outbox_replay(args) -> int:
    """Re-deliver the retained events recorded since a time to one queue or one webhook
    endpoint, with their original ids, bodies and sequences (a late subscriber catches up)."""
    from shared.bus.replay import parse_since, replay_to_queue
    from shared.runtime import service_module
    from shared.web.webhooks import pattern_errors
    settings = _settings(args)
    module = service_module(args.service)
    now = datetime.now(timezone.utc)
    since = parse_since(args.since, now)
    if args.type is not None and (refused := pattern_errors([args.type], args.service)):
        raise ValueError(f"--type: {refused[0]}")
    ctx = module.build_context(settings)
    try:
        if args.queue is not None:
            count = replay_to_queue(ctx.database, ctx.tables, settings.broker_url, args.queue,
                                    since=since, type_pattern=args.type)
            where = f"queue {args.queue}"
        else:
            from shared.webhooks import store
            with ctx.database.transaction() as session:
                if store.get_endpoint(session, ctx.tables, args.webhook) is None:
                    raise ValueError(f"{args.service} has no webhook endpoint {args.webhook}")
                count = store.enqueue_replay(session, ctx.tables, args.webhook, since=since,
                                             type_pattern=args.type, now=now)
            where = f"webhook endpoint {args.webhook} (sent by the service's dispatcher)"
    finally:
        ctx.database.dispose()
    print(f"{count} event(s) since {since.isoformat().replace('+00:00', 'Z')} replayed to {where}")
    return 0


def cmd_up(args) -> int:
    """The whole suite on one port; refused in one line, before anything is made or printed,
    when its address cannot be listened on or another ``up`` holds its data folder."""
    from shared.config import data_folder
    from shared.startup import DataDirLock, listen, url_host
    listener = listen(args.host, args.port)   # first: a taken port is refused before anything
    try:
        local_url = f"http://{url_host(args.host)}:{listener.getsockname()[1]}"
        lock = DataDirLock.acquire(data_folder(os.environ, args.data_dir), url=local_url)
    except BaseException:
        listener.close()
        raise
    try:
        return _run_suite(args, listener, lock, local_url)
    finally:
        listener.close()
        lock.release()


def _run_suite(args, listener, lock, local_url: str) -> int:
    """Migrate, start the workers and the web server on ``listener``, then print the banner."""
    from shared.logs import log_format
    from shared.runtime import Workers, available_services, migrate, service_module
    from shared.startup import banner, loopback, wait_until_serving
    fmt = log_format(terminal=sys.stderr.isatty())
    port = listener.getsockname()[1]
    settings = Settings.from_env(data_dir=lock.folder, host=args.host, port=port)
    nice = background_nice()
    configure_logs(settings.log_level, fmt)
    public_url = settings.public_url or local_url
    settings = settings.with_overrides(public_url=public_url)
    services = available_services()
    for service in services:
        migrate(service, settings)
    contexts = {service: service_module(service).build_context(settings) for service in services}
    if args.demo:
        for service in services:
            module = service_module(service)
            if hasattr(module, "load_demo"):
                module.load_demo(contexts[service])
    stop = _stop_on_signals()
    env = dict(os.environ, CLIENTLOOP_DATA_DIR=str(settings.data_dir), CLIENTLOOP_PUBLIC_URL=public_url,
               CLIENTLOOP_SECRET_KEY=settings.secret_key, CLIENTLOOP_LOG_FORMAT=fmt,
               CLIENTLOOP_THREADS=str(UP_THREADS))
    # The web server serves the socket bound above, and holds the data folder's lock with it.
    # It starts first, at the priority ``up`` was given; the background work started below
    # (relays, consumers, periodic jobs) runs at a lower one, so that under load the pages and
    # the API answer first and events are applied with the CPU they leave.
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:shared.gunicorn_conf", "--bind",
         f"fd://{listener.fileno()}", "--workers", "1", "--threads", str(UP_THREADS),
         "shared.embedded:wsgi()"], env=env, pass_fds=(listener.fileno(), lock.fileno()))
    address = loopback(listener)
    listener.close()
    freeze_start_up_objects()
    workers = Workers()
    try:
        _lower_priority(nice)   # inherited by the threads started from here
        for service in services:
            workers.start_service(service, contexts[service])
        if args.demo:
            # Services learn the demo clients from registry events a moment after start; run
            # their periodic jobs often for a short while so what depends on those clients (the
            # demo complaints) appears within seconds rather than at the next regular pass.
            workers.start("demo-warm-up", lambda stop: _warm_up(stop, services, contexts))
        indexes = wait_until_serving(server, address, services, stop)
        if indexes is not None:   # None: stopped (Ctrl-C) before the web server answered
            token = _admin_token(settings, contexts)
            link = _admin_link(settings, contexts, public_url)
            print(banner(public_url, settings.data_dir, indexes, token, settings.token_days,
                         sign_in_link=link), flush=True)
        while not stop.is_set():
            if server.poll() is not None:
                print("the web server stopped; shutting down", file=sys.stderr)
                break
            stop.wait(0.5)
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        workers.shutdown()
        for ctx in contexts.values():
            ctx.database.dispose()
    print("ClientLoop stopped.", flush=True)
    return 0 if stop.is_set() else 1


#: Request threads of ``up``'s single web worker.
UP_THREADS = 8


def _lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority by ``nice`` (threads it starts afterwards inherit
    it on Linux; elsewhere the whole process's). Where the system refuses, nothing changes."""
    if nice > 0 and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError:
            pass


def _admin_token(settings: Settings, contexts) -> str:
    """The admin token ``up`` prints, recorded in every service database like ``token create``."""
    from shared.tokens import record_token
    now = datetime.now(timezone.utc)
    token, principal = issue(settings.secret_key, name="admin", role="admin", days=settings.token_days,
                             now=now)
    for ctx in contexts.values():
        record_token(ctx.database, ctx.tables.api_token, principal, now=now)
    return token


def _admin_link(settings: Settings, contexts, public_url: str) -> str:
    """A one-time console sign-in link for the admin, recorded like ``console link``."""
    from shared.sign_in_links import issue_link, link_url
    from shared.tokens import record_token
    now = datetime.now(timezone.utc)
    link_token, principal = issue_link(settings.secret_key, name="admin", role="admin", now=now)
    for ctx in contexts.values():
        record_token(ctx.database, ctx.tables.api_token, principal, now=now)
    return link_url(public_url, link_token)


def _warm_up(stop: threading.Event, services, contexts, *, seconds: float = 30.0,
             every: float = 2.0) -> None:
    import time

    from shared.runtime import run_jobs_once
    deadline = time.monotonic() + seconds
    while not stop.wait(every) and time.monotonic() < deadline:
        for service in services:
            try:
                run_jobs_once(service, contexts[service])
            except Exception:  # noqa: BLE001 - the regular passes will try again
                pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clientloop", description="ClientLoop: clients, satisfaction, complaints.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole suite on one port")
    up.add_argument("--host", default=os.environ.get("CLIENTLOOP_HOST", "127.0.0.1"))
    up.add_argument("--port", type=int, default=int(os.environ.get("CLIENTLOOP_PORT", "8000")))
    up.add_argument("--data-dir", default=None)
    up.add_argument("--demo", action="store_true", help="load a small realistic data set")
    up.set_defaults(func=cmd_up)

    token = commands.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="print a signed bearer token")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True)
    create.add_argument("--days", type=int, default=None, help=f"at most {MAX_TOKEN_DAYS}")
    create.add_argument("--data-dir", default=None)
    create.set_defaults(func=cmd_token_create)
    listed = token.add_parser("list", help="the tokens issued, one JSON object a line, newest first")
    listed.add_argument("--data-dir", default=None)
    listed.set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token: every service refuses it within 5 s")
    revoke.add_argument("id", metavar="ID", help="the token's id (from 'token list') or the token itself")
    revoke.add_argument("--data-dir", default=None)
    revoke.set_defaults(func=cmd_token_revoke)

    console = commands.add_parser("console", help="the staff console").add_subparsers(
        dest="console_command", required=True)
    link = console.add_parser("link", help="print a one-time sign-in link to the console "
                                           "(valid 15 minutes)")
    link.add_argument("--name", required=True)
    link.add_argument("--role", required=True, choices=ROLES)
    link.add_argument("--data-dir", default=None)
    link.set_defaults(func=cmd_console_link)

    for name, func, text in (("migrate", cmd_migrate, "apply the service's database migrations"),
                             ("relay", cmd_relay, "run the service's outbox relay and webhook dispatcher"),
                             ("consume", cmd_consume, "run the service's event consumer and periodic jobs"),
                             ("jobs", cmd_jobs, "one pass of the service's periodic jobs, then exit")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("service")
        sub.add_argument("--data-dir", default=None)
        sub.set_defaults(func=func)

    serve = commands.add_parser("serve", help="one service alone under gunicorn")
    serve.add_argument("service")
    serve.add_argument("--bind", default="127.0.0.1:8000")
    serve.add_argument("--workers", type=int, default=2)
    serve.set_defaults(func=cmd_serve)

    dlq = commands.add_parser("dlq", help="dead-lettered events").add_subparsers(dest="dlq_command", required=True)
    listing = dlq.add_parser("list", help="show the service's dead-lettered events")
    listing.add_argument("service")
    listing.add_argument("--data-dir", default=None)
    listing.set_defaults(func=cmd_dlq_list)
    again = dlq.add_parser("replay", help="re-deliver dead-lettered events to the service")
    again.add_argument("service")
    again.add_argument("ids", nargs="*")
    again.add_argument("--data-dir", default=None)
    again.set_defaults(func=cmd_dlq_replay)

    outbox = commands.add_parser("outbox", help="the events a service recorded").add_subparsers(
        dest="outbox_command", required=True)
    backfill = outbox.add_parser(
        "replay", help="re-deliver retained events (original ids and bodies) to a queue or a "
                       "webhook endpoint, so a late subscriber catches up")
    backfill.add_argument("service")
    backfill.add_argument("--since", required=True,
                          help="an ISO 8601 time (2026-05-01T00:00:00Z) or an age (12h, 7d)")
    backfill.add_argument("--type", default=None, metavar="PATTERN",
                          help="only these event types: a name, or a prefix such as complaint.*")
    target = backfill.add_mutually_exclusive_group(required=True)
    target.add_argument("--queue", metavar="NAME",
                        help="publish to this existing queue (through the default exchange)")
    target.add_argument("--webhook", metavar="ID", help="deliver to this webhook endpoint")
    backfill.add_argument("--data-dir", default=None)
    backfill.set_defaults(func=cmd_outbox_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    from shared.startup import StartRefused
    from shared.token_commands import TokenStoreError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ValueError as exc:
        print(f"clientloop: {exc}", file=sys.stderr)
        return 2
    except (TokenStoreError, StartRefused) as exc:
        print(f"clientloop: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
