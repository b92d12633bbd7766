"""Slack's Socket Mode endpoint (the `wss://…/link` that apps.connections.open hands out), on loopback.

Enough of RFC 6455 for slack_sdk's built-in client: the handshake, Slack's `hello`, ping/pong,
close, envelopes sent to the app and the acknowledgements it sends back.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
import uuid
from typing import Any

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def _frame(opcode: int, payload: bytes) -> bytes:
    """A server frame: final, unmasked."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _read_frame(conn: socket.socket) -> tuple[int, bytes]:
    first, second = _read_exact(conn, 2)
    n = second & 0x7F
    if n == 126:
        n = struct.unpack("!H", _read_exact(conn, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", _read_exact(conn, 8))[0]
    mask = _read_exact(conn, 4) if second & 0x80 else b"\0\0\0\0"
    data = _read_exact(conn, n)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class FakeSocketMode:
    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self._server = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Condition()
        self._connections: list[socket.socket] = []
        self.acks: dict[str, Any] = {}
        self.connects = 0
        threading.Thread(target=self._accept, daemon=True, name="FakeSocketMode").start()

    @property
    def url(self) -> str:
        port = self._server.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id={self.app_id}"

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    def wait_connected(self, timeout: float = 10.0) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self._connections, timeout):
                raise AssertionError(f"no Socket Mode connection within {timeout}s")

    def send(self, kind: str, payload: dict[str, Any], timeout: float = 10.0) -> Any:
        """Deliver an envelope to the connected app; return the payload of its acknowledgement."""
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind != "events_api", "retry_attempt": 0, "retry_reason": ""}
        self.wait_connected(timeout)
        with self._lock:
            self._connections[-1].sendall(_frame(TEXT, json.dumps(envelope).encode()))
            if not self._lock.wait_for(lambda: envelope_id in self.acks, timeout):
                raise AssertionError(f"the app did not acknowledge envelope {kind} within {timeout}s")
            return self.acks[envelope_id]

    # ------------------------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in request.decode("latin-1").split("\r\n")[1:] if line)}
            key = headers.get("sec-websocket-key")
            if headers.get("upgrade", "").lower() != "websocket" or not key:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return
            accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
            hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": self.app_id},
                     "debug_info": {"host": "fake", "approximate_connection_time": 18060}}
            conn.sendall(_frame(TEXT, json.dumps(hello).encode()))
            with self._lock:
                self._connections.append(conn)
                self.connects += 1
                self._lock.notify_all()
            while True:
                opcode, data = _read_frame(conn)
                if opcode == PING:
                    conn.sendall(_frame(PONG, data))
                elif opcode == CLOSE:
                    conn.sendall(_frame(CLOSE, data[:2]))
                    return
                elif opcode == TEXT:
                    message = json.loads(data)
                    with self._lock:
                        self.acks[message.get("envelope_id")] = message.get("payload")
                        self._lock.notify_all()
        except (OSError, ConnectionError, ValueError):
            return
        finally:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            with contextlib.suppress(OSError):
                conn.close()
            time.sleep(0)
