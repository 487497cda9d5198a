"""TLSStream: stdlib TLS under a Twisted protocol, pumped in memory."""

import os
import ssl

import pytest
from twisted.internet.interfaces import IConsumer, ITransport
from twisted.internet.protocol import Protocol
from twisted.test.iosim import connectedServerAndClient
from zope.interface.verify import verifyObject

from kernel.errors import WrongKeyError
from kernel.tls import Identity, client_context, pin_check, server_context
from kernel.wire.tlsstream import TLSStream


class Recorder(Protocol):
    """Keeps what arrives; with ``into`` set, receives into that buffer (BufferedProtocol style)."""

    def __init__(self, into=None):
        self.chunks = []
        self.lost = None
        self.into = into
        self.filled = 0

    def dataReceived(self, data):
        self.chunks.append(bytes(data))

    def get_buffer(self):
        if self.into is None or self.filled == len(self.into):
            return None
        return memoryview(self.into)[self.filled:]

    def buffer_updated(self, n):
        self.filled += n

    def connectionLost(self, reason):
        self.lost = reason

    @property
    def received(self):
        return b"".join(self.chunks)


@pytest.fixture(scope="module")
def identity():
    return Identity.create()


def pair(identity, tubid=None, server_inner=None, client_inner=None):
    server_inner = server_inner or Recorder()
    client_inner = client_inner or Recorder()
    client, server, pump = connectedServerAndClient(
        lambda: TLSStream(server_inner, server_context(identity), server_side=True),
        lambda: TLSStream(client_inner, client_context(), server_side=False,
                          check_peer=pin_check(tubid or identity.tubid)),
    )
    pump.flush()
    return client_inner, server_inner, client, server, pump


def test_bytes_flow_both_ways_after_the_handshake(identity):
    client_inner, server_inner, client, server, pump = pair(identity)
    client.write(b"hello")
    server.writeSequence([b"wor", b"ld"])
    pump.flush()
    assert server_inner.received == b"hello"
    assert client_inner.received == b"world"
    assert verifyObject(ITransport, client) and verifyObject(IConsumer, client)  # to the protocol it wraps


def test_what_is_written_before_the_handshake_waits_for_it(identity):
    early = Recorder()

    class Greeter(Recorder):
        def connectionMade(self):
            self.transport.write(b"first words")

    greeter = Greeter()
    pair(identity, server_inner=early, client_inner=greeter)
    assert early.received == b"first words"


def test_a_big_payload_is_decrypted_straight_into_the_named_buffer(identity):
    payload = os.urandom(3 * 1024 * 1024 + 17)
    into = bytearray(len(payload))
    client_inner, server_inner, client, server, pump = pair(identity, server_inner=Recorder(into))
    client.write(memoryview(payload))
    pump.flush()
    assert server_inner.filled == len(payload) and into == payload
    assert server_inner.chunks == []  # nothing went through dataReceived


def test_a_server_with_another_key_is_refused_before_anything_is_sent(identity):
    client_inner, server_inner, client, server, pump = pair(identity, tubid=Identity.create().tubid)
    client.write(b"secret")
    pump.flush()
    assert client_inner.lost is not None and client_inner.lost.check(WrongKeyError)
    assert "not the pinned tub id" in str(client_inner.lost.value)
    assert server_inner.received == b""


def test_lose_connection_delivers_what_was_written_then_closes_both_sides(identity):
    client_inner, server_inner, client, server, pump = pair(identity)
    client.write(b"last words")
    client.loseConnection()
    pump.flush()
    assert server_inner.received == b"last words"
    assert server_inner.lost is not None and client_inner.lost is not None


def test_garbage_instead_of_tls_closes_with_the_ssl_error(identity):
    server_inner = Recorder()
    client, server, pump = connectedServerAndClient(
        lambda: TLSStream(server_inner, server_context(identity), server_side=True), Recorder)
    client.transport.write(b"GET / HTTP/1.0\r\n\r\n")
    pump.flush()
    assert server_inner.lost is not None and server_inner.lost.check(ssl.SSLError)
    assert server_inner.received == b""
