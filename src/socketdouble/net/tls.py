"""TLS: certificates from a trustme CA for servers and the clients that test them."""

from __future__ import annotations

import os
import shutil
import ssl
import threading
import weakref
from typing import Any

import trustme

from ..errors import ServerStateError
from . import address
from .stream import TCPServer

__all__ = ["SERVER_NAMES", "TLSServer", "client_context", "server_context"]

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
_leaves: weakref.WeakKeyDictionary[trustme.CA, trustme.LeafCert] = weakref.WeakKeyDictionary()


def _server_certificate(ca: trustme.CA) -> trustme.LeafCert:
    """A certificate for localhost, 127.0.0.1 and ::1, issued once per CA."""
    leaf = _leaves.get(ca)
    if leaf is None:
        leaf = _leaves[ca] = ca.issue_cert(*SERVER_NAMES)
    return leaf


def server_context(ca: trustme.CA, client_auth: bool = False) -> ssl.SSLContext:
    """A server-side context with a certificate from ``ca``.

    ``client_auth=True`` asks clients for a certificate from the same CA (mutual TLS).
    A client that closes without close_notify has closed normally.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _server_certificate(ca).configure_cert(context)
    context.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    if client_auth:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)
    return context


def client_context(ca: trustme.CA, client_cert: bool = False) -> ssl.SSLContext:
    """A client-side context that trusts ``ca`` (and presents a client cert if asked)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(context)
    if client_cert:
        ca.issue_cert("client.socketdouble.test").configure_cert(context)
    return context


class TLSServer(TCPServer):
    """A TCP server speaking TLS with a certificate for localhost, 127.0.0.1 and ::1.

    ``ca`` is the issuing ``trustme.CA`` (a fresh one if not given); ``client_auth=True``
    requires client certificates from it. The recording holds the plaintext.
    """

    kind = "TLS"

    def __init__(
        self, handler: Any = None, *, ca: trustme.CA | None = None, client_auth: bool = False, **kwargs: Any
    ) -> None:
        self.ca = ca if ca is not None else trustme.CA()
        self.client_auth = client_auth
        kwargs.setdefault("ssl_context", server_context(self.ca, client_auth))
        super().__init__(handler, **kwargs)
        self._ca_folder: str | None = None
        self._ca_lock = threading.Lock()

    def client_ssl_context(self) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` that trusts this server (with a client cert under mutual TLS)."""
        return client_context(self.ca, client_cert=self.client_auth)

    @property
    def ca_file(self) -> str:
        """Path of the CA's PEM file, for clients that are not Python; valid while the server runs.

        The file lives in a private folder that stop() removes (under pytest's base
        temporary folder while a socketdouble fixture is in use). Asked before start() or after stop(), it
        raises :class:`ServerStateError` instead of leaving a folder behind; the PEM
        itself is ``server.ca.cert_pem`` at any time.
        """
        with self._ca_lock:
            if not self.running:
                raise ServerStateError(
                    f"{self!r}: ca_file exists only while the server runs, and this one is "
                    f"{self._state} (stop() removes the file); read it between start() and stop(), "
                    "or use server.ca.cert_pem"
                )
            if self._ca_folder is None:
                self._ca_folder = address.private_folder("sd-ca-")
            path = os.path.join(self._ca_folder, "ca.pem")
            if not os.path.exists(path):
                self.ca.cert_pem.write_to_path(path)
            return path

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            with self._ca_lock:  # a ca_file call racing stop() made its folder before this, or raises
                folder, self._ca_folder = self._ca_folder, None
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)  # our private folder: nothing else in it
