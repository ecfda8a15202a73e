"""`labconsole serve`: the console over HTTP and websocket, on 127.0.0.1, behind the URL's token, read-only."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp  # textual-serve's server, so installed with it (a declared dependency: no skip)

from labconsole.cli.cmd_serve import free_port

ROOT = Path(__file__).resolve().parents[2]


async def _drive(url: str, port: int) -> dict[str, object]:
    base = f"http://127.0.0.1:{port}"
    out: dict[str, object] = {}
    async with aiohttp.ClientSession() as anon:
        async with anon.get(f"{base}/") as r:
            out["no_token"] = r.status
        async with anon.get(f"{base}/?token=wrong") as r:
            out["wrong_token"] = r.status
        async with anon.get(f"{base}/static/js/textual.js") as r:
            out["static_no_token"] = r.status
        try:
            async with anon.ws_connect(f"ws://127.0.0.1:{port}/ws"):
                out["ws_no_token"] = 101
        except aiohttp.WSServerHandshakeError as exc:
            out["ws_no_token"] = exc.status
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:  # unsafe: IP host
        async with browser.get(url) as r:
            out["index"] = r.status
            out["html"] = await r.text()
        try:
            async with browser.ws_connect(f"ws://127.0.0.1:{port}/ws", headers={"Origin": "http://evil.example"}):
                out["ws_other_origin"] = 101
        except aiohttp.WSServerHandshakeError as exc:
            out["ws_other_origin"] = exc.status
        async with browser.ws_connect(f"ws://127.0.0.1:{port}/ws?width=120&height=36", headers={"Origin": base}) as ws:
            await ws.send_json(["resize", {"width": 120, "height": 36}])
            seen = b""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (b"READ-ONLY" in seen and b"Overview" in seen):
                try:
                    msg = await ws.receive(timeout=5)
                except TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.BINARY:
                    seen += msg.data
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    seen += msg.data.encode()
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
            out["screen"] = seen
    return out


def test_serve_over_http_and_websocket(tmp_path: Path) -> None:
    from labconsole.demo import create_demo_lab
    from labconsole.lab.service import Lab

    lab_dir = create_demo_lab(tmp_path / "lab")
    lab = Lab.start_session(lab_dir)  # a running session for the served consoles to attach to
    port = free_port()
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labconsole.cli", "serve", "--lab", str(lab_dir), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:(\d+)/\?token=[\w-]+)", line)
        assert match and "read-only" in line, line
        url = match.group(1)
        assert int(match.group(2)) == port
        for _ in range(100):  # the URL is printed just before aiohttp binds
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        got = asyncio.run(_drive(url, port))
        assert got["no_token"] == 403 and got["wrong_token"] == 403 and got["static_no_token"] == 403
        assert got["ws_no_token"] == 403 and got["ws_other_origin"] == 403
        assert got["index"] == 200 and f"ws://127.0.0.1:{port}/ws" in str(got["html"])
        screen = got["screen"]
        assert isinstance(screen, bytes) and b"READ-ONLY" in screen and b"Overview" in screen, screen[-2000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        lab.close()


def test_serve_without_a_running_session_is_one_line(tmp_path: Path) -> None:
    from labconsole.demo import create_demo_lab
    from labconsole.lab.service import Lab

    lab_dir = create_demo_lab(tmp_path / "lab")
    Lab.start_session(lab_dir).close()
    out = subprocess.run(
        [sys.executable, "-m", "labconsole.cli", "serve", "--lab", str(lab_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert out.stderr.count("\n") == 1 and "no console is running session" in out.stderr, out.stderr
