"""Serving the admin API over HTTP: stdlib ``http.server``, stopped at once, every thread joined.

``socketserver.serve_forever`` polls for its shutdown flag (every 0.5 s by default): our
loop waits on a selector with a wake-up socket instead, so :meth:`AdminServer.close`
returns at once. Each request runs in its own thread; close shuts the sockets of
requests still being read (a client that connected and said nothing) and ends the
long polls (:meth:`AdminAPI.close`), then joins every thread.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import selectors
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

from .admin import AdminAPI, Reply

__all__ = ["MAX_BODY", "AdminServer", "AdminUnavailable", "parse_admin_address"]

#: The largest request body read (a rule or a server table is far smaller).
MAX_BODY = 1 << 20
#: How long a request may take to arrive once connected: a client that says nothing is let go.
REQUEST_TIMEOUT = 30.0
#: After refusing a request whose body was not read: at most this much of it, for at most
#: this long, is read and dropped before the close (see ``_Handler._refuse``).
LINGER_BYTES = 4 << 20
LINGER_SECONDS = 0.5
#: How long close() waits for each request thread after shutting its socket.
JOIN_TIMEOUT = 5.0


class AdminUnavailable(Exception):
    """The admin address is malformed, not allowed, or cannot be listened on; the message says which."""


def parse_admin_address(text: str, allow_remote: bool) -> tuple[str, int]:
    """``"HOST:PORT"`` or ``"[::1]:PORT"``: loopback unless ``allow_remote``; port 0 picks one."""
    host, sep, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port_text.isdigit():
        raise AdminUnavailable("expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one)")
    port = int(port_text)
    if port > 65535:
        raise AdminUnavailable(f"{port} is not a port (0..65535)")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise AdminUnavailable(f"{host!r} is not an IP address; use 127.0.0.1 or ::1") from None
    if not address.is_loopback and not allow_remote:
        raise AdminUnavailable(
            f"{host} is not a loopback address: anyone on the network could change the doubles; "
            "pass --allow-remote if that is what you want"
        )
    return host, port


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive thread to end
    timeout = REQUEST_TIMEOUT
    server_version = "socketdouble-admin"

    def _dispatch(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            return self._refuse(Reply(411, {"error": "send the body with a Content-Length, not chunked"}))
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self._refuse(Reply(400, {"error": "Content-Length is not a number"}))
        if not 0 <= length <= MAX_BODY:
            return self._refuse(Reply(413, {"error": f"a body of {length} bytes; at most {MAX_BODY}"}))
        body = self.rfile.read(length)
        self.server.answering()
        self._send(self.server.api.handle(self.command, urlsplit(self.path).path, body))

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def _send(self, reply: Reply) -> None:
        if reply.is_text:
            data, kind = reply.body.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            data, kind = (json.dumps(reply.body) + "\n").encode("utf-8"), "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (reply.headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _refuse(self, reply: Reply) -> None:
        """Answer a request whose body is not read, then read and drop what the client still sends.

        Closing with its body unread would reset the connection, and a client still
        sending it would see that reset rather than the answer. The drop is bounded
        (:data:`LINGER_BYTES`, :data:`LINGER_SECONDS`); past it, the close comes anyway.
        """
        self._send(reply)
        connection = self.connection
        with contextlib.suppress(OSError):  # gone, or too slow: the close that follows is all that is left
            self.wfile.flush()
            connection.shutdown(socket.SHUT_WR)  # the answer is complete: the client may read it now
            deadline, left = time.monotonic() + LINGER_SECONDS, LINGER_BYTES
            while left > 0 and (remaining := deadline - time.monotonic()) > 0:
                connection.settimeout(remaining)
                data = connection.recv(min(left, 65536))
                if not data:
                    break
                left -= len(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (a malformed request line, an unknown method) as JSON too.
        with contextlib.suppress(OSError):  # the client may be gone: nothing to tell it then
            self._send(Reply(code, {"error": message or explain or "bad request"}))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: stderr is the service's, for its own errors; a CI log needs no access log."""


class _HTTPServer(HTTPServer):
    allow_reuse_address = True

    def __init__(self, host: str, port: int, api: AdminAPI) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.api = api
        #: Request threads, and the sockets of those still reading their request: close()
        #: shuts those down (a client that connected and said nothing would hold it up).
        self.threads: set[threading.Thread] = set()
        self.reading: dict[threading.Thread, socket.socket] = {}
        self.requests_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (getfqdn), which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run, args=(request, client_address), name="socketdouble-admin-request"
        )
        with self.requests_lock:
            self.threads.add(thread)
            self.reading[thread] = request
        thread.start()

    def answering(self) -> None:
        """The current request has been read: it is answered, even while closing (a wait: 503)."""
        with self.requests_lock:
            self.reading.pop(threading.current_thread(), None)

    def _run(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # the client went away mid-answer: nothing to report it to
            pass
        finally:
            self.shutdown_request(request)
            with self.requests_lock:
                self.reading.pop(threading.current_thread(), None)
                self.threads.discard(threading.current_thread())


class AdminServer:
    """The admin API on ``host:port``, in a background thread, until :meth:`close`."""

    def __init__(self, api: AdminAPI, host: str, port: int) -> None:
        self.api = api
        try:
            self._http = _HTTPServer(host, port, api)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise AdminUnavailable(
                    f"port {port} on {host} is in use; pick another, or 0 for a free one"
                ) from None
            raise AdminUnavailable(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="socketdouble-admin")
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, with the port actually bound."""
        host, port = (str(part) for part in self._http.server_address[:2])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._http.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if self._wake_reader in ready:
                    return
                # One ready connection: accept and process_request (its select returns at once).
                self._http.handle_request()

    def close(self) -> None:
        """Stop accepting, end the waits and the requests still being read, join every thread."""
        self.api.close()
        with contextlib.suppress(OSError):  # the loop has gone already: it needs no waking
            self._wake_writer.send(b"x")
        self._thread.join()
        with self._http.requests_lock:
            reading = list(self._http.reading.values())
            threads = list(self._http.threads)
        for request in reading:
            with contextlib.suppress(OSError):  # finished meanwhile: closed already
                request.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
        self._http.server_close()
        self._wake_reader.close()
        self._wake_writer.close()
