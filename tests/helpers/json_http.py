"""The base of the local fake HTTP services in the tests (the model server, the fake Hub): quiet logs and one
way to answer with a JSON body."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def send_json(self, status: int, obj: Any) -> None:
        # With a Content-Length, so keep-alive (HTTP/1.1) clients know where the body ends.
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
