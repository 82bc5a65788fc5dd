"""Start `lion arena serve` as a real subprocess on a free port, for tests that talk HTTP."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import openai


@dataclasses.dataclass
class Server:
    """One `lion arena serve` process and where it listens (`url` ends in /v1, like a base_url)."""

    proc: subprocess.Popen
    url: str = ""

    def client(self, api_key: str = "unused", timeout: float = 5.0) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=api_key, max_retries=0, timeout=timeout)

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats", timeout=10) as reply:
            return json.load(reply)

    def stop(self) -> tuple[str, str]:
        """Terminate the server and return what it wrote: (stdout after the first line, stderr)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()


def launch(*args: str, env: dict[str, str] | None = None) -> Server:
    """Start a server without waiting for it, so that several can start side by side."""
    command = [sys.executable, "-m", "lion", "arena", "serve", "--port", "0", *args]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    return Server(proc)


def ready(server: Server) -> Server:
    """Wait for the one line the server prints and take the URL from it."""
    line = server.proc.stdout.readline()
    assert line.startswith("lion arena: serving http://127.0.0.1:"), (line, server.stop())
    server.url = line.split()[-1]
    return server


@contextmanager
def arena_server(*args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = ready(launch(*args, env=env))
    try:
        yield server
    finally:
        server.stop()
