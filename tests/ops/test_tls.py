"""Built-in TLS on the public port, and permessage-deflate as an option."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from tests.fixtures.node import NodeFactory


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_a_node_with_a_certificate_accepts_a_wss_client(
        node_factory: NodeFactory, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    node = await node_factory(tls_cert=str(cert), tls_key=str(key))
    trust = ssl.create_default_context(cafile=str(cert))
    assert node.ws_url.startswith("wss://")
    async with connect(f"{node.ws_url}?token={node.token('alice')}", ssl=trust,
                       proxy=None) as ws:
        welcome = json.loads(await ws.recv())
    assert welcome["user"] == "alice"


async def test_the_internal_api_stays_plain_http_when_tls_is_on(
        node_factory: NodeFactory, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    node = await node_factory(tls_cert=str(cert), tls_key=str(key))
    async with aiohttp.ClientSession() as http, \
            http.get(f"{node.api_url}/healthz") as answer:
        assert answer.status == 200


async def test_compression_is_off_unless_configured(node_factory: NodeFactory) -> None:
    node = await node_factory()
    async with connect(f"{node.ws_url}?token={node.token('alice')}", proxy=None,
                       extensions=[ClientPerMessageDeflateFactory()],
                       compression=None) as ws:
        await ws.recv()
        assert ws.protocol.extensions == []


async def test_compression_is_negotiated_with_clients_that_offer_it(
        node_factory: NodeFactory) -> None:
    node = await node_factory(compression=True)
    async with connect(f"{node.ws_url}?token={node.token('alice')}", proxy=None,
                       compression="deflate") as ws:
        welcome = json.loads(await ws.recv())
        assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
    assert welcome["user"] == "alice"
