"""Owns the HTTP plumbing shared by the stand-ins: server lifecycle, the call log and fault injection."""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

Matcher = Callable[["Call"], bool]


@dataclass
class Call:
    """One HTTP request the fake received, with its parsed body and what the fake answered."""

    method: str
    path: str
    query: dict[str, str | list[str]]
    body: Any
    headers: dict[str, str]
    api_method: str | None = None
    # What a fault did to this call ("status=429", "drop", "after_effect+status=502", ...), or None.
    fault: str | None = None
    # Filled in once the fake has decided its answer; None for a dropped call.
    status: int | None = None
    response: Any = None
    raw_body: bytes = field(default=b"", repr=False)
    received_at: float = field(default_factory=time.monotonic, repr=False)
    # Set when the fake's state reflects this call, so wait_for never races the effect.
    done: bool = field(default=False, repr=False)

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), default)

    def describe(self) -> str:
        """One readable line for assertion messages."""
        name = f" [{self.api_method}]" if self.api_method else ""
        fault = f" fault={self.fault}" if self.fault else ""
        body = json.dumps(self.body, default=str, ensure_ascii=False) if self.body is not None else ""
        if len(body) > 300:
            body = body[:300] + "…"
        return f"{self.method} {self.path}{name} -> {self.status}{fault} body={body}"


@dataclass
class Response:
    """What a fake answers: a dict/list becomes JSON, a str plain text, bytes go out as they are."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """A scripted misbehaviour waiting for matching calls."""

    matcher: Matcher
    status: int | None
    retry_after: float | None
    remaining: int
    delay: float
    drop: bool
    after_effect: bool
    body: Any

    def describe(self) -> str:
        parts = []
        if self.after_effect:
            parts.append("after_effect")
        if self.delay:
            parts.append(f"delay={self.delay}")
        if self.drop:
            parts.append("drop")
        elif self.status is not None:
            parts.append(f"status={self.status}")
        elif self.body is not None:
            parts.append("body")
        return "+".join(parts) or "noop"

    @property
    def replaces_answer(self) -> bool:
        return self.drop or self.status is not None or self.body is not None


class Hold:
    """Matching calls wait, unanswered, until the test releases them: the outside world held still.

    A test that must show "the answer did not wait for GitLab" holds GitLab, collects every
    answer, and only then lets GitLab answer: no race against the wall clock. Used as a context
    manager it releases on the way out, so a failing test never leaves a call hanging.
    """

    # However a test ends, a held call is answered after this long (the stand-in must not hang).
    LIMIT = 120.0

    def __init__(self, owner: FakeHTTPServer, matcher: Matcher) -> None:
        self._owner = owner
        self.matcher = matcher
        self._released = threading.Event()
        self._waiting = 0
        self._seen = 0
        self._count = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    @property
    def released(self) -> bool:
        return self._released.is_set()

    @property
    def waiting(self) -> int:
        """Calls being held right now."""
        with self._count:
            return self._waiting

    @property
    def seen(self) -> int:
        """Calls that reached the hold so far (waiting or let through since)."""
        with self._count:
            return self._seen

    def release(self) -> None:
        self._released.set()
        self._owner._drop_hold(self)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` calls have reached the hold (polled: libfaketime-safe)."""
        deadline = time.monotonic() + timeout
        while self.seen < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.seen} call(s) reached the hold within {timeout}s, not {count}")
            time.sleep(0.005)

    def _wait(self) -> None:
        with self._count:
            self._waiting += 1
            self._seen += 1
        try:
            # Short sleeps, not Event.wait(timeout): a timed wait that runs out never returns under libfaketime.
            deadline = time.monotonic() + self.LIMIT
            while not self._released.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)
        finally:
            with self._count:
                self._waiting -= 1


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive as real servers do, so a dropped answer hits a pooled connection.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY each answer waits on delayed ACKs.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        self.server.track(self.connection, alive=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        # Silence the per-request stderr lines; the call log is the record.
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of clients would be reset, which real Slack and GitLab never do.
    request_queue_size = 128
    # Idle keep-alive handlers never return on their own; stop() cuts them instead of joining them.
    block_on_close = False
    fake: FakeHTTPServer

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, *, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def cut_connections(self) -> None:
        """Close every open client connection, so pooled keep-alive sockets cannot outlive stop()."""
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _canonical(name: str) -> str:
    # Clients differ in header case (requests sends "Content-type"); one spelling keeps tests simple.
    return "-".join(part.capitalize() for part in name.split("-"))


def parse_query(raw: str) -> dict[str, str | list[str]]:
    """Query string to dict; repeated keys and keys ending in [] become lists."""
    out: dict[str, str | list[str]] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = [value] if key.endswith("[]") else value
    return out


def parse_body(content_type: str, raw: bytes) -> Any:
    """Parse a JSON or form body; raises ValueError on malformed JSON."""
    if not raw:
        return {}
    kind = content_type.split(";", 1)[0].strip().lower()
    text = raw.decode("utf-8")
    if kind == "application/json" or (not kind and text.lstrip()[:1] in "{["):
        return json.loads(text)
    if kind in ("application/x-www-form-urlencoded", ""):
        return parse_query(text)
    return text


class FakeHTTPServer:
    """Base of the fakes: real HTTP on 127.0.0.1, a locked call log, and scripted faults."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        # One lock for the fake's domain state so handlers and test helpers never interleave.
        self._state_lock = threading.RLock()
        self._calls: list[Call] = []
        self._faults: list[Fault] = []
        self._holds: list[Hold] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Serve in a daemon thread: on an ephemeral loopback port, or the same port again after stop()."""
        if self._httpd is not None:
            return self
        httpd = _Server(("127.0.0.1", self._port or 0))
        httpd.fake = self
        self._httpd = httpd
        self._port = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"{type(self).__name__}:{httpd.server_address[1]}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket and open connections (state and calls are kept)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        with self._lock:
            holds = list(self._holds)
        for hold in holds:  # a held handler thread must not outlive the server
            hold.release()
        httpd.shutdown()
        httpd.server_close()
        httpd.cut_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port; kept across stop() so a restarted fake keeps its URL."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} was never started; call start() first")
        return self._port

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._httpd is not None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT with no trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    # ----------------------------------------------------------------- call log

    @property
    def calls(self) -> list[Call]:
        """Snapshot of every recorded call, oldest first (faulted ones included)."""
        with self._lock:
            return list(self._calls)

    def calls_matching(self, match: Any) -> list[Call]:
        """Recorded calls that `match` selects (same forms as fail_next's match)."""
        matcher = self._matcher(match)
        return [c for c in self.calls if matcher(c)]

    def reset(self) -> None:
        """Forget calls, pending faults and all domain state."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            holds, self._holds = self._holds, []
        for hold in holds:
            hold._released.set()
        with self._state_lock:
            self._reset_state()

    def clear_faults(self) -> None:
        """Drop every scripted fault not used up yet; calls and state stay."""
        with self._lock:
            self._faults.clear()

    def wait_for(self, predicate_or_method: Any, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until at least `count` matching calls have been handled; return all of them.

        A call counts once the fake has applied its effect and chosen its answer, so the
        fake's state can be asserted on straight after this returns.
        """
        matcher = self._matcher(predicate_or_method)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [c for c in self._calls if c.done and matcher(c)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recorded = "\n".join(f"  {i}. {c.describe()}" for i, c in enumerate(self._calls, 1))
                    raise AssertionError(
                        f"{type(self).__name__}: waited {timeout}s for {count} call(s) matching "
                        f"{predicate_or_method!r}, saw {len(found)}. Recorded calls:\n"
                        f"{recorded or '  (none)'}"
                    )
            # A short sleep, not Condition.wait(timeout): under libfaketime (CI's moved clock) a lock
            # wait that runs out never returns, while sleep and notified waits behave.
            time.sleep(min(remaining, 0.005))

    # ----------------------------------------------------------------- faults

    def fail_next(
        self,
        match: Any,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        times: int = 1,
        delay: float = 0.0,
        drop: bool = False,
        after_effect: bool = False,
        body: Any = None,
    ) -> None:
        """Script the next `times` matching calls to misbehave.

        status: answer this code instead (429 gets Retry-After, default 1 s); body: answer this
        body (HTTP 200 unless status says otherwise); delay: sleep first; drop: close the socket
        with no answer; after_effect: apply the real effect first, then misbehave.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(
            matcher=self._matcher(match),
            status=status,
            retry_after=retry_after,
            remaining=times,
            delay=delay,
            drop=drop,
            after_effect=after_effect,
            body=body,
        )
        with self._lock:
            self._faults.append(fault)

    def hold(self, match: Any) -> Hold:
        """Hold every matching call unanswered until `release()` (or the `with` block ends).

        A held call is recorded (it shows in `calls`, not yet `done`) and then waits; released, it
        goes on to any scripted fault and its normal answer.
        """
        hold = Hold(self, self._matcher(match))
        with self._lock:
            self._holds.append(hold)
        return hold

    def _drop_hold(self, hold: Hold) -> None:
        with self._lock:
            if hold in self._holds:
                self._holds.remove(hold)

    def pending_faults(self) -> int:
        """How many scripted fault uses are still unconsumed."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    # ----------------------------------------------------------------- subclass hooks

    def _matcher(self, match: Any) -> Matcher:
        if callable(match):
            return match
        raise TypeError(f"cannot match calls with {match!r}")

    def _enrich(self, call: Call) -> None:
        """Fill api_method or decode nested fields before faults are matched."""

    def _handle(self, call: Call) -> Response:
        raise NotImplementedError

    def _fault_response(self, fault: Fault, call: Call) -> Response:
        return Response(fault.status or 200, fault.body if fault.body is not None else {})

    def _reset_state(self) -> None:
        """Restore domain state to what the constructor made."""

    # ----------------------------------------------------------------- request path

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        call = Call(
            method=handler.command,
            path=parts.path,
            query=parse_query(parts.query),
            body=None,
            headers={_canonical(k): v for k, v in handler.headers.items()},
            raw_body=raw,
        )
        bad_body: str | None = None
        try:
            call.body = parse_body(handler.headers.get("Content-Type", ""), raw)
        except (ValueError, UnicodeDecodeError) as exc:
            call.body = raw.decode("utf-8", "replace")
            bad_body = str(exc)
        self._enrich(call)

        with self._lock:
            self._calls.append(call)
            holds = [h for h in self._holds if h.matcher(call)]
        for hold in holds:
            hold._wait()
        with self._lock:
            fault = self._take_fault(call)
            if fault is not None:
                call.fault = fault.describe()

        if fault is not None and not fault.after_effect and fault.delay:
            time.sleep(fault.delay)

        if fault is not None and not fault.after_effect and fault.replaces_answer:
            answer = None if fault.drop else self._fault_response(fault, call)
        else:
            answer = self._dispatch(call, bad_body)
            if fault is not None and fault.after_effect:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.replaces_answer:
                    answer = None if fault.drop else self._fault_response(fault, call)

        if answer is not None and fault is not None and fault.retry_after is not None:
            answer.headers.setdefault("Retry-After", str(math.ceil(fault.retry_after)))

        with self._lock:
            if answer is not None:
                call.status, call.response = answer.status, answer.body
            call.done = True
            self._lock.notify_all()

        if answer is None:
            # Lost response: the client gets EOF with no status line.
            handler.close_connection = True
            return
        self._send(handler, answer)

    def _take_fault(self, call: Call) -> Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.matcher(call):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _dispatch(self, call: Call, bad_body: str | None) -> Response:
        try:
            with self._state_lock:
                if bad_body is not None:
                    return self._bad_body(call, bad_body)
                return self._handle(call)
        except Exception:
            # A bug in the fake must be loud, not look like a server outage the app is meant to survive.
            return Response(500, {"stand_in_error": traceback.format_exc()})

    def _bad_body(self, call: Call, error: str) -> Response:
        return Response(400, {"error": f"malformed body: {error}"})

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, answer: Response) -> None:
        body = answer.body
        headers = dict(answer.headers)
        if isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode("utf-8")
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        try:
            handler.send_response(answer.status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its timeout fired during a delay); nothing to answer.
            handler.close_connection = True
