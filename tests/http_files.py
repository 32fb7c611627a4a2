"""A plain HTTP file server's request handler for the firmware and log transfer tests:
GET serves `files` (404 otherwise), PUT stores the body under its request path in
`uploads` (what OCPP's upload locations need of a file server)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any


def file_handler(files: dict[str, bytes],
                 uploads: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:  # noqa: N802
            n = int(self.headers.get("Content-Length", "0"))
            uploads[self.path] = self.rfile.read(n)
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
