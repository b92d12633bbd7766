"""`learnbot serve` under waitress, stopping gracefully on SIGTERM, and waiting for a database that is down.

On SIGTERM the server stops accepting connections at once (a load balancer's next try goes to
another replica), answers the requests already in hand for up to `deadline` seconds, then lets
the after-answer pool finish its queued calls and exits 0.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from bot.ops import shutdown

if TYPE_CHECKING:
    from bot.container import Services

log = logging.getLogger(__name__)

DEADLINE = 20.0  # seconds for answers in flight; Kubernetes' default grace period is 30
GRACE = 0.25


def _servers(server: Any) -> list[Any]:
    if isinstance(server, BaseWSGIServer):
        return [server]
    return [s for s in server.map.values() if isinstance(s, BaseWSGIServer)]  # MultiSocketServer


def _busy(servers: list[Any]) -> bool:
    for s in servers:
        if s.task_dispatcher.queue or s.task_dispatcher.active_count:
            return True
        # A request still arriving (ch.request: headers or body part-read) counts as in flight too.
        channels = list(s.active_channels.values())
        if any(ch.requests or ch.request is not None or ch.total_outbufs_len for ch in channels):
            return True
        # Bytes a client sent that the loop has not read yet: they become a request on the next turn.
        sockets = [ch.socket for ch in channels if ch.socket is not None and not ch.will_close]
        if sockets and select.select(sockets, [], [], 0)[0]:
            return True
    return False


@dataclass
class DatabaseWait:
    """serve started while the database did not answer: a thread waits for it, then checks its schema.
    A schema this code cannot run on then stops serving (`refused` set, `problem` says why)."""

    refused: threading.Event = field(default_factory=threading.Event)
    problem: str | None = None


def check_database_when_it_answers(database_url: str) -> DatabaseWait:
    from bot.store.migrate import DatabaseUnavailable, MigrationsMissing, ensure_current, wait_for_database

    waiting = DatabaseWait()

    def run() -> None:
        try:
            wait_for_database(database_url, meanwhile="/healthz answers, /readyz says 503 until then")
            ensure_current(database_url)
        except (DatabaseUnavailable, MigrationsMissing) as exc:
            waiting.problem = str(exc)
            waiting.refused.set()

    threading.Thread(target=run, name="learnbot-database-wait", daemon=True).start()
    return waiting


def serve_worker_metrics(*, host: str, port: int) -> None:
    """The worker's own GET /metrics (its counters: passes, reminders, notices, retries, Slack and GitLab
    calls), from a daemon thread. The database gauges stay on the web process's /metrics, so that
    Prometheus does not get each of them twice."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host)
    log.info("worker metrics on http://%s:%s/metrics", *server.server_address[:2])


def serve_until_stopped(app: Any, services: Services, *, host: str, port: int, threads: int,
                        deadline: float = DEADLINE, max_body: int | None = None,
                        stop: threading.Event | None = None) -> None:
    """Serve until SIGTERM (or until `stop` is set by someone else)."""
    extra: dict[str, Any] = {"max_request_body_size": max_body} if max_body else {}
    server: Any = create_server(app, host=host, port=port, threads=threads, ident="learnbot", **extra)
    servers = _servers(server)
    loop_map = servers[0]._map
    stop = stop or threading.Event()
    shutdown.install(on_stop=stop.set)
    for s in servers:
        log.info("listening on http://%s:%s", *s.socket.getsockname()[:2])
    try:
        while not stop.is_set():
            wasyncore.loop(timeout=0.5, map=loop_map, use_poll=True, count=1)
        for s in servers:  # stop accepting: the listening socket closes now
            s.accepting = False
            s.del_channel()
            s.socket.close()
        started = time.monotonic()
        ends = started + deadline
        # A short grace first: bytes a client sent just before the signal are read and become a
        # request in flight, rather than being reset with the connection.
        while (_busy(servers) or time.monotonic() < started + GRACE) and time.monotonic() < ends:
            wasyncore.loop(timeout=0.1, map=loop_map, use_poll=True, count=1)
        if _busy(servers):
            log.warning("stopping: requests still in flight after %.0f s are cut off", deadline)
    except KeyboardInterrupt:  # a second SIGTERM, or Ctrl-C: stop now
        pass
    finally:
        for s in servers:
            s.task_dispatcher.shutdown(cancel_pending=True, timeout=2)
        wasyncore.close_all(loop_map)
        services.close()  # the after-answer lanes finish what they hold (GitLab events already answered too)
        log.info("stopped", extra={"event": "stopped"})
