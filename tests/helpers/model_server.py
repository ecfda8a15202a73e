"""A scripted model server on 127.0.0.1 for tests: Anthropic Messages, OpenAI Chat
Completions and OpenAI Responses, streaming (SSE) and not.

The real ``anthropic``/``openai`` SDKs and the real ``claude``/``codex`` CLIs talk to it.
A script is a list of :class:`Reply`; each request consumes the first unused reply whose
rules match (``match``: a substring of the newest user input — the task prompt or the
tool results; ``context``: a substring anywhere in the request), else the first unused
reply without rules, else ``default``. Every request is recorded.

A reply's ``fault`` makes the server misbehave the way real ones do: ``stall`` (headers, then
nothing), ``pings`` (SSE keep-alive comments, never a token), ``trickle`` (one token every
``fault_s``), ``garbage`` (200 with a body that is not JSON), ``truncate`` (half a stream, then
the connection closes), ``close`` (the connection closes without a response). HTTP errors
(429, 500, …) are ``status``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from .json_http import JsonHandler


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, input)
    match: str | None = None
    context: str | None = None
    input_tokens: int = 100  # uncached input
    output_tokens: int = 20
    cached_tokens: int = 0
    status: int = 200  # != 200: answer an API error instead
    delay_s: float = 0.0
    fault: str = ""  # "" | stall | pings | trickle | garbage | truncate | close (see the module doc)
    fault_s: float = 60.0  # how long a stall/pings lasts (the server's stop ends it sooner); trickle's pace

    def matches(self, last_user: str, raw: str) -> bool:
        return (self.match is None or self.match in last_user) and (self.context is None or self.context in raw)

    @property
    def has_rules(self) -> bool:
        return self.match is not None or self.context is not None


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    last_user: str
    reply: Reply


def _blocks_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of blocks (text, tool_result, input_text…)."""
    if isinstance(content, str):
        return content
    out = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            out.append(block["text"])
        if "content" in block:  # anthropic tool_result
            out.append(_blocks_text(block["content"]))
        if isinstance(block.get("output"), str):  # responses function_call_output
            out.append(block["output"])
    return "\n".join(out)


def last_user_text(path: str, body: dict[str, Any]) -> str:
    """The newest user-side input: everything after the last assistant turn."""
    if path.startswith("/v1/responses"):
        items = (
            body.get("input")
            if isinstance(body.get("input"), list)
            else [{"role": "user", "content": body.get("input", "")}]
        )
        tail: list[Any] = []
        for item in items:
            if item.get("role") == "assistant" or item.get("type") in (
                "function_call",
                "reasoning",
                "custom_tool_call",
            ):
                tail = []
            elif item.get("role") in ("user", None) or item.get("type") == "function_call_output":
                tail.append(item)
        return "\n".join(_blocks_text(i.get("content")) if "content" in i else str(i.get("output", "")) for i in tail)
    tail = []
    for msg in body.get("messages", []):
        if msg.get("role") == "assistant":
            tail = []
        elif msg.get("role") in ("user", "tool"):  # claude may end with a role=system entry: skip it
            tail.append(msg)
    return "\n".join(_blocks_text(m.get("content")) for m in tail)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # SDK keep-alive connections must not hold up stop()
    owner: ModelServer


class _Handler(JsonHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    reply: Reply

    def do_HEAD(self) -> None:  # claude probes the base URL first
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [], "models": []})
        else:
            self.send_json(200, {"ok": True})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        try:
            body = json.loads(raw or "{}")
        except json.JSONDecodeError:
            self.send_json(400, {"error": {"message": "bad json"}})
            return
        path = self.path.split("?")[0]
        owner = self.server.owner
        last_user = last_user_text(path, body)
        reply = owner.pick(last_user, raw)
        self.reply = reply
        owner.requests.append(Recorded(path, body, {k.lower(): v for k, v in self.headers.items()}, last_user, reply))
        if reply.delay_s:
            time.sleep(reply.delay_s)
        model = str(body.get("model") or "stub-model")
        if reply.fault and self._fault(reply):
            return
        if reply.status != 200:
            self.send_json(
                reply.status,
                {"type": "error", "error": {"type": "api_error", "message": reply.text or "scripted error"}},
            )
        elif path.endswith("/messages"):
            self._anthropic(body, reply, model)
        elif path.endswith("/chat/completions"):
            self._chat(body, reply, model)
        elif path.endswith("/responses"):
            self._responses(reply, model)
        else:
            self.send_json(404, {"error": {"message": f"no route {path}"}})

    # -- faults -----------------------------------------------------------------------------------

    def _fault(self, r: Reply) -> bool:
        """Misbehave as ``r.fault`` says; False when the fault is in the stream itself (truncate)."""
        owner = self.server.owner
        self.close_connection = True
        if r.fault == "close":
            self.connection.shutdown(2)
            return True
        if r.fault == "garbage":
            data = b"<html><body>502 Bad Gateway \xff\xfe</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return True
        if r.fault in ("stall", "pings", "trickle"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            end = time.monotonic() + r.fault_s
            try:
                while time.monotonic() < end and not owner.stopped.is_set():
                    if r.fault == "pings":
                        self.wfile.write(b": ping\n\n")
                        self.wfile.flush()
                    elif r.fault == "trickle":
                        chunk = {
                            "id": "chatcmpl-t",
                            "object": "chat.completion.chunk",
                            "created": 0,
                            "model": "m",
                            "choices": [{"index": 0, "delta": {"content": "."}, "finish_reason": None}],
                        }
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                    owner.stopped.wait(r.fault_s if r.fault == "trickle" else 0.5)
            except OSError:
                pass  # the client gave up: that is the point
            return True
        return r.fault != "truncate"

    # -- transport -----------------------------------------------------------------------------

    def _sse(self, events: list[tuple[str | None, Any]]) -> None:
        # The whole stream at once with a Content-Length: valid SSE, and no close-delimited bodies.
        chunks = []
        for name, data in events:
            payload = data if isinstance(data, str) else json.dumps(data)
            chunks.append((f"event: {name}\n" if name else "") + f"data: {payload}\n\n")
        body = "".join(chunks).encode()
        if self.reply.fault == "truncate":
            # Promise the whole stream, send half of it, hang up: a dropped connection mid-answer.
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # -- Anthropic Messages ----------------------------------------------------------------------

    def _anthropic(self, body: dict[str, Any], r: Reply, model: str) -> None:
        n = next(self.server.owner.ids)
        blocks: list[dict[str, Any]] = []
        if r.text:
            blocks.append({"type": "text", "text": r.text})
        for i, (name, inp) in enumerate(r.tool_calls):
            blocks.append({"type": "tool_use", "id": f"toolu_{n}_{i}", "name": name, "input": inp})
        stop = "tool_use" if r.tool_calls else "end_turn"
        usage = {
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cache_read_input_tokens": r.cached_tokens,
            "cache_creation_input_tokens": 0,
        }
        message = {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "stop_reason": stop,
            "stop_sequence": None,
        }
        if not body.get("stream"):
            self.send_json(200, {**message, "content": blocks, "usage": usage})
            return
        events: list[tuple[str | None, Any]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}},
                },
            )
        ]
        for i, block in enumerate(blocks):
            if block["type"] == "text":
                events.append(
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
                    )
                )
                half = len(block["text"]) // 2 or len(block["text"])
                for piece in (block["text"][:half], block["text"][half:]):
                    if piece:
                        events.append(
                            (
                                "content_block_delta",
                                {
                                    "type": "content_block_delta",
                                    "index": i,
                                    "delta": {"type": "text_delta", "text": piece},
                                },
                            )
                        )
            else:
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": i,
                            "content_block": {
                                "type": "tool_use",
                                "id": block["id"],
                                "name": block["name"],
                                "input": {},
                            },
                        },
                    )
                )
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                        },
                    )
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": r.output_tokens},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        self._sse(events)

    # -- OpenAI Chat Completions -------------------------------------------------------------------

    def _chat(self, body: dict[str, Any], r: Reply, model: str) -> None:
        n = next(self.server.owner.ids)
        calls = [
            {"id": f"call_{n}_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(inp)}}
            for i, (name, inp) in enumerate(r.tool_calls)
        ]
        finish = "tool_calls" if calls else "stop"
        usage = {
            "prompt_tokens": r.input_tokens + r.cached_tokens,
            "completion_tokens": r.output_tokens,
            "total_tokens": r.input_tokens + r.cached_tokens + r.output_tokens,
            "prompt_tokens_details": {"cached_tokens": r.cached_tokens},
        }
        base = {"id": f"chatcmpl-{n}", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": r.text or None}
            if calls:
                message["tool_calls"] = calls
            self.send_json(
                200,
                {
                    **base,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                },
            )
            return
        chunk = {**base, "object": "chat.completion.chunk"}
        events: list[tuple[str | None, Any]] = [
            (
                None,
                {
                    **chunk,
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                },
            )
        ]
        for piece in (r.text[: len(r.text) // 2], r.text[len(r.text) // 2 :]) if r.text else ():
            events.append(
                (None, {**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            )
        for i, call in enumerate(calls):
            args = call["function"]["arguments"]
            events.append(
                (
                    None,
                    {
                        **chunk,
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": None,
                                "delta": {
                                    "tool_calls": [
                                        {
                                            "index": i,
                                            "id": call["id"],
                                            "type": "function",
                                            "function": {"name": call["function"]["name"], "arguments": args[:5]},
                                        }
                                    ]
                                },
                            }
                        ],
                    },
                )
            )
            events.append(
                (
                    None,
                    {
                        **chunk,
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": None,
                                "delta": {"tool_calls": [{"index": i, "function": {"arguments": args[5:]}}]},
                            }
                        ],
                    },
                )
            )
        events.append((None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, {**chunk, "choices": [], "usage": usage}))
        events.append((None, "[DONE]"))
        self._sse(events)

    # -- OpenAI Responses (what codex speaks) ----------------------------------------------------

    def _responses(self, r: Reply, model: str) -> None:
        n = next(self.server.owner.ids)
        seq = itertools.count()
        events: list[tuple[str | None, Any]] = []

        def emit(kind: str, **fields: Any) -> None:
            # Every Responses stream event names its type twice (SSE event and body) and is numbered.
            events.append((kind, {"type": kind, "sequence_number": next(seq), **fields}))

        resp = {
            "id": f"resp_{n}",
            "object": "response",
            "created_at": int(time.time()),
            "model": model,
            "status": "in_progress",
            "output": [],
        }
        emit("response.created", response=resp)
        output: list[dict[str, Any]] = []
        if r.text:
            item = {"id": f"msg_{n}", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            idx = len(output)
            emit("response.output_item.added", output_index=idx, item=item)
            where = {"item_id": item["id"], "output_index": idx, "content_index": 0}
            part = {"type": "output_text", "text": "", "annotations": []}
            emit("response.content_part.added", **where, part=part)
            emit("response.output_text.delta", **where, delta=r.text)
            emit("response.output_text.done", **where, text=r.text)
            emit("response.content_part.done", **where, part={**part, "text": r.text})
            content = [{"type": "output_text", "text": r.text, "annotations": []}]
            done = {**item, "status": "completed", "content": content}
            emit("response.output_item.done", output_index=idx, item=done)
            output.append(done)
        for i, (name, inp) in enumerate(r.tool_calls):
            idx = len(output)
            item = {
                "id": f"fc_{n}_{i}",
                "type": "function_call",
                "status": "in_progress",
                "call_id": f"call_{n}_{i}",
                "name": name,
                "arguments": "",
            }
            emit("response.output_item.added", output_index=idx, item=item)
            done = {**item, "status": "completed", "arguments": json.dumps(inp)}
            where = {"item_id": item["id"], "output_index": idx}
            emit("response.function_call_arguments.delta", **where, delta=done["arguments"])
            emit("response.function_call_arguments.done", **where, arguments=done["arguments"])
            emit("response.output_item.done", output_index=idx, item=done)
            output.append(done)
        usage = {
            "input_tokens": r.input_tokens + r.cached_tokens,
            "input_tokens_details": {"cached_tokens": r.cached_tokens},
            "output_tokens": r.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": r.input_tokens + r.cached_tokens + r.output_tokens,
        }
        emit("response.completed", response={**resp, "status": "completed", "output": output, "usage": usage})
        self._sse(events)


class ModelServer:
    """``with ModelServer([Reply(...), ...]) as srv:`` — ``srv.url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, replies: list[Reply] | None = None, default: Reply | None = None) -> None:
        self.replies = list(replies or [])
        self.default = default or Reply(text="(scripted default: nothing left to say)")
        self.used: set[int] = set()
        self.requests: list[Recorded] = []
        self.ids = itertools.count(1)
        self.stopped = threading.Event()  # ends stalls when the test is done
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def pick(self, last_user: str, raw: str) -> Reply:
        with self._lock:
            order = [i for i in range(len(self.replies)) if i not in self.used]
            chosen = next(
                (i for i in order if self.replies[i].has_rules and self.replies[i].matches(last_user, raw)), None
            )
            if chosen is None:
                chosen = next((i for i in order if not self.replies[i].has_rules), None)
            if chosen is None:
                return self.default
            self.used.add(chosen)
            return self.replies[chosen]

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def start(self) -> ModelServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="model-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
