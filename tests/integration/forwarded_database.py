"""Postgres reached through a port of the test's own, which it can take away (every connection cut) and give
back: a failure of the database for the clients given that port, while the shared stack's Postgres keeps
serving everyone else."""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading

from deploy.settings import Settings


class _Pipe(socketserver.BaseRequestHandler):
    """Copies bytes both ways between the accepted connection and a new one to the server's target."""

    server: _Forwarder

    def handle(self) -> None:
        upstream = socket.create_connection(self.server.target)
        self.server.opened(self.request, upstream)
        with contextlib.suppress(OSError), selectors.DefaultSelector() as selector:
            selector.register(self.request, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, self.request)
            while True:
                for key, _ in selector.select():
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)


class _Forwarder(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", port), _Pipe)
        self.target = target
        self._open: list[socket.socket] = []

    def opened(self, *sockets: socket.socket) -> None:
        self._open.extend(sockets)

    def cut(self) -> None:
        """Stops listening and cuts every connection made through it: the database is gone for its users."""
        self.shutdown()
        self.server_close()
        for each in self._open:
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
            each.close()


class Database:
    """Postgres reached through a port of its own, which the test can take away and give back."""

    def __init__(self, settings: Settings) -> None:
        self._target = (settings.pg_host, settings.pg_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._server: _Forwarder | None = None

    def up(self) -> None:
        self._server = _Forwarder(self.port, self._target)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.cut()
            self._server = None
