"""``alscare serve`` in a subprocess for the tests that need a real server (the README's main
job, the browser): started, waited for, and stopped by its own pid at the end."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(base: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the server at {base} did not start in {seconds:g} s")


@contextmanager
def serving(args: list[str], cwd: Path, env: dict | None = None, *,
            output: bool = False) -> Iterator[subprocess.Popen]:
    """``python -m alscare <args>`` running (its stdout readable when ``output``)."""
    proc = subprocess.Popen([sys.executable, "-m", "alscare", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE if output else subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
                            text=True)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
