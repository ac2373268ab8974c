"""/healthz on a real `edge run`: HEAD as monitoring tools and load balancers send it."""

from __future__ import annotations

import socket

import requests

from tests.conftest import Gateway


def raw_head(gateway: Gateway, path: str) -> bytes:
    """Everything the server sends for one HEAD request (HTTP clients skip a HEAD response's body, so read raw)."""
    port = gateway.doc["api"]["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        return b"".join(iter(lambda: s.recv(65536), b""))


def test_head_healthz_answers_like_get_without_a_body(gateway: Gateway) -> None:
    got = requests.get(gateway.url + "/healthz", timeout=5)
    head, _, body = raw_head(gateway, "/healthz").partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {got.status_code} ".encode()), head
    assert b"content-type: application/json" in head.lower() and body == b""
