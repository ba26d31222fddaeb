"""A tiny HTTP/1.1 server for service doubles, with fault injection and a request log.

Each double (Telegram, X, Graph, WordPress) subclasses :class:`DoubleServer`, declares its
routes and answers in the real service's wire format. The server runs on its own asyncio
loop in a background thread, on a free port of 127.0.0.1, so it serves synchronous clients
(tweepy/requests), async clients on the test's loop, and a whole ``pregonero run --once``
alike::

    with TelegramDouble() as tg:            # or tg = TelegramDouble().start(); tg.stop()
        tg.base_url                         # "http://127.0.0.1:PORT"
        tg.fail_next(status=429, json={...}, path="/sendMessage")
        ...
        tg.requests_to("/sendMessage")      # what reached the service, parsed

It is written on asyncio streams rather than an ASGI server because the faults need the raw
socket: a *reset* closes it with ``SO_LINGER=0`` (the client sees ECONNRESET) and nothing
else is sent; *commit then drop* runs the handler (the post now exists) and then resets —
the lost-response case a non-idempotent channel must not retry blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import inspect
import json as jsonlib
import re
import socket
import struct
import threading
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

Handler = Callable[..., "Response | Awaitable[Response]"]


@dataclass(frozen=True)
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Request:
    """One request as the double received it."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    """The injected fault that hit this request (``status``/``delay``/``reset``/``commit``)."""

    def arg(self, name: str, default: Any = None) -> Any:
        """A parameter from the JSON body, the form, a multipart field or the query."""
        if isinstance(self.json, dict) and name in self.json:
            return self.json[name]
        if name in self.form:
            return self.form[name]
        return self.query.get(name, default)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status,
            jsonlib.dumps(data, ensure_ascii=False).encode(),
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )

    @classmethod
    def raw(cls, data: bytes, content_type: str, status: int = 200) -> Response:
        return cls(status, data, {"Content-Type": content_type})


@dataclass
class Fault:
    """What to do to the next matching requests (see :meth:`DoubleServer.fail_next`)."""

    remaining: int
    path: str | None = None
    method: str | None = None
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    commit: bool = False

    def matches(self, request: Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        return not self.path or re.search(self.path, request.path) is not None

    @property
    def kind(self) -> str:
        if self.reset:
            return "commit-drop" if self.commit else "reset"
        if self.delay:
            return "delay"
        return "status"


class DoubleServer:
    """Base of every double: routing, request log, fault injection, thread lifecycle."""

    service = "double"

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._log: list[Request] = []
        self.errors: list[str] = []
        """Tracebacks of handler crashes (a test that sees one should fail)."""
        self.lock = threading.RLock()
        self.host = "127.0.0.1"
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # -- public API ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "double not started"
        return self._loop

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """``pattern`` is a regex matched against the whole path; named groups become
        keyword arguments of ``handler(request, **groups)``."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def start(self, port: int = 0) -> Self:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._main(port, ready))
            except BaseException as exc:  # surfaced to start()
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name=f"{self.service}-double", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise RuntimeError(f"{self.service} double failed to start") from failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(
        self,
        n: int = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        status: int | None = None,
        json: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        reset: bool = False,
        commit: bool = False,
    ) -> None:
        """Make the next ``n`` requests matching ``path`` (regex search) and ``method`` fail.

        - ``status`` (+ ``json``/``body``/``headers``): answer that instead of the handler;
        - ``delay``: hold the answer that many seconds (longer than the client's read
          timeout makes a timeout); the handler runs after the delay unless ``commit``;
        - ``reset``: close the socket with a TCP reset, no answer, handler not run;
        - ``reset`` + ``commit``: run the handler (the effect happens), then reset.
        """
        data = b""
        hdrs = dict(headers or {})
        if json is not None:
            data = jsonlib.dumps(json).encode()
            hdrs.setdefault("Content-Type", "application/json; charset=utf-8")
        elif body is not None:
            data = body.encode() if isinstance(body, str) else body
        with self.lock:
            self._faults.append(Fault(n, path, method, status, data, hdrs, delay, reset, commit))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    @property
    def requests(self) -> list[Request]:
        with self.lock:
            return list(self._log)

    def requests_to(self, path: str, method: str | None = None) -> list[Request]:
        """Logged requests whose path matches the regex ``path`` (and ``method``)."""
        return [
            r
            for r in self.requests
            if re.search(path, r.path) and (method is None or r.method == method.upper())
        ]

    # -- for subclasses ------------------------------------------------------------------

    def settings_overrides(self) -> dict[str, Any]:
        """Settings sections pointing Pregonero's channel at this double (``load_settings``)."""
        raise NotImplementedError

    def settings_env(self) -> dict[str, str]:
        """The same as ``PREGONERO_*`` environment variables (for a ``pregonero`` process)."""
        raise NotImplementedError

    def not_found(self, request: Request) -> Response:
        return Response.json({"error": "not found"}, 404)

    def call_in_loop(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the double's loop (to wake long-polls from the test thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn)

    # -- server --------------------------------------------------------------------------

    async def _main(self, port: int, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._connection, self.host, port)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await self._stopping.wait()
            server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                response = await self._respond(request)
                if response is None:
                    _reset(writer)
                    return
                keep = request.headers.get("connection", "").lower() != "close"
                writer.write(_serialize(response, keep))
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Shutting down. Swallowed on purpose: asyncio 3.11's stream callback calls
            # task.exception() on this task, which would raise for a cancelled one.
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(request):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    async def _respond(self, request: Request) -> Response | None:
        fault = self._take_fault(request)
        request.fault = fault.kind if fault else None
        with self.lock:
            self._log.append(request)
        if fault is None:
            return await self._dispatch(request)
        response = await self._dispatch(request) if fault.commit else None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.reset:
            return None
        if fault.status is not None:
            return Response(fault.status, fault.body, fault.headers)
        return response or await self._dispatch(request)

    async def _dispatch(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if not match:
                continue
            allowed = True
            if method != request.method:
                continue
            request.params = match.groupdict()
            try:
                result = handler(request, **request.params)
                if inspect.isawaitable(result):
                    result = await result
                return result
            except Exception:
                self.errors.append(traceback.format_exc())
                return Response.json({"error": "double crashed"}, 500)
        if allowed:
            return Response.json({"error": "method not allowed"}, 405)
        return self.not_found(request)


# -- HTTP/1.1 plumbing ---------------------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
    split = urlsplit(target)
    request = Request(
        method=method.upper(),
        target=target,
        path=unquote(split.path),
        query=dict(parse_qsl(split.query, keep_blank_values=True)),
        headers=headers,
        body=body,
    )
    _parse_body(request)
    return request


def _parse_body(request: Request) -> None:
    ctype = request.headers.get("content-type", "")
    if not request.body:
        return
    if "json" in ctype:
        with contextlib.suppress(ValueError):
            request.json = jsonlib.loads(request.body)
    elif "application/x-www-form-urlencoded" in ctype:
        request.form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    elif "multipart/form-data" in ctype:
        request.form, request.files = parse_multipart(request.body, ctype)


def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Fields and files of a ``multipart/form-data`` body."""
    ctype = Message()
    ctype["content-type"] = content_type
    boundary = ctype.get_param("boundary")
    form: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    if not isinstance(boundary, str):
        return form, files
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip()] = value.strip()
        field_name = headers.get_param("name", header="content-disposition")
        filename = headers.get_filename()
        if not isinstance(field_name, str):
            continue
        if filename is None:
            form[field_name] = data.decode("utf-8", "replace")
        else:
            files[field_name] = UploadedFile(filename, headers.get("content-type"), data)
    return form, files


def _serialize(response: Response, keep_alive: bool) -> bytes:
    try:
        reason = http.HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    headers = {"Content-Length": str(len(response.body)), **response.headers}
    headers["Connection"] = "keep-alive" if keep_alive else "close"
    head = f"HTTP/1.1 {response.status} {reason}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + response.body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0): the client gets ECONNRESET, no response."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
