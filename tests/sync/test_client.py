"""The HTTP client: what each answer means, TLS with a private CA, timeouts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sync.client import Acked, Refused, Rejected, Retry, TooLarge, UpstreamClient, classify
from sync.wire import gzip_bytes
from tests.sync.central import TOKEN, Central

BODY = gzip_bytes(b'{"id":"t-gw1:1","device_id":"t-gw1","building_id":"b01","seq":1,"ts":"2026-01-01T00:00:00.000Z",'
                  b'"kind":"bin.level","source":"bin-1","priority":"normal","data":{}}\n')


@pytest.mark.parametrize("status,expected", [
    (200, Acked), (201, Acked), (204, Acked), (409, Acked),
    (429, Retry), (500, Retry), (502, Retry), (503, Retry), (504, Retry), (408, Retry),
    (400, Rejected), (422, Rejected), (415, Rejected),
    (413, TooLarge),
    (401, Refused), (403, Refused), (404, Refused), (301, Refused), (302, Refused),
])
def test_classify(status, expected):
    assert isinstance(classify(status, None, "x"), expected)


def test_classify_reads_retry_after():
    assert classify(503, "7", "").retry_after == 7.0
    assert classify(429, "Wed, 21 Oct 2015 07:28:00 GMT", "").retry_after == 0.0  # a date in the past: now
    assert classify(503, "soon", "").retry_after is None


def make_ca(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A private CA and a certificate for 127.0.0.1 signed by it (as a central server on a private CA has)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test central CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "central")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(cert.public_bytes(pem) + key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(folder / "server.pem")
    return folder / "ca.pem", ctx


def test_tls_with_a_private_ca(tmp_path):
    ca, ctx = make_ca(tmp_path)
    central = Central(tls=ctx).start()
    try:
        trusting = UpstreamClient(central.url, TOKEN, "t-gw1", connect_timeout=2, read_timeout=2, ca_bundle=ca)
        assert trusting.post_batch("t-gw1:1-1", BODY) == Acked(200)
        assert trusting.post_batch("t-gw1:1-1", BODY) == Acked(409)
        default = UpstreamClient(central.url, TOKEN, "t-gw1", connect_timeout=2, read_timeout=2)  # system CAs
        reply = default.post_batch("t-gw1:1-1", BODY)
        assert isinstance(reply, Retry) and "CERTIFICATE_VERIFY_FAILED" in reply.reason
    finally:
        central.stop()


def test_slow_answers_time_out(central: Central):
    central.faults.append(("slow", 1.5))
    client = UpstreamClient(central.url, TOKEN, "t-gw1", connect_timeout=1, read_timeout=0.5)
    reply = client.post_batch("t-gw1:1-1", BODY)
    assert isinstance(reply, Retry) and reply.timeout
    assert client.post_batch("t-gw1:1-1", BODY) == Acked(409)  # the server had stored it before answering late


def test_redirects_are_not_followed(central: Central):
    client = UpstreamClient(central.url.replace("/api", "/elsewhere"), TOKEN, "t-gw1", connect_timeout=1,
                            read_timeout=1)
    reply = client.post_batch("t-gw1:1-1", BODY)
    assert isinstance(reply, Rejected) and central.violations  # the test server says: wrong path


def test_an_answer_trickled_a_byte_at_a_time_times_out_at_the_deadline(central: Central):
    central.faults.append(("trickle", 40, 0.2))  # each byte well within the read timeout; all of them take 8 s
    client = UpstreamClient(central.url, TOKEN, "t-gw1", connect_timeout=1, read_timeout=0.5)
    t0 = time.monotonic()
    reply = client.post_batch("t-gw1:1-1", BODY)
    assert isinstance(reply, Retry) and reply.timeout, reply
    assert time.monotonic() - t0 < 4.0  # the deadline is 1.5 s
    assert client.post_batch("t-gw1:1-1", BODY) == Acked(409)  # the server had stored it: same key again
