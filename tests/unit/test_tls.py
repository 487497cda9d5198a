"""Keys, tub ids and pinning."""

import socket
import ssl
import threading

import pytest

from kernel.errors import SecurityError, WrongKeyError
from kernel.tls import Identity, _self_signed, connect_pinned, tubid_of


def test_tubid_is_52_lowercase_base32_and_survives_certificate_renewal():
    identity = Identity.create()
    assert len(identity.tubid) == 52 and identity.tubid == identity.tubid.lower()
    renewed = _self_signed(identity.key)
    assert renewed.serial_number != identity.cert.serial_number
    assert tubid_of(renewed) == identity.tubid
    assert Identity.create().tubid != identity.tubid


def test_identity_is_created_once_with_mode_0600_then_reloaded(tmp_path):
    path = tmp_path / "key.pem"
    first = Identity.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert Identity.load_or_create(path).tubid == first.tubid


def test_corrupt_or_mismatched_key_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "bad.pem"
    path.write_bytes(b"not a pem")
    with pytest.raises(SecurityError, match="bad.pem"):
        Identity.load(path)
    a, b = Identity.create(), Identity.create()
    path.write_bytes(a.to_pem().split(b"-----BEGIN CERTIFICATE")[0] + b.to_pem()[b.to_pem().index(b"-----BEGIN CERTIFICATE"):])
    with pytest.raises(SecurityError, match="does not match"):
        Identity.load(path)


@pytest.fixture
def tls_server(tmp_path):
    """A plain stdlib TLS server presenting a fresh identity; echoes one line."""
    identity = Identity.create()
    pem = tmp_path / "server.pem"
    pem.write_bytes(identity.to_pem())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem)
    listener = socket.create_server(("127.0.0.1", 0))
    received = []

    def serve():
        try:
            conn, _ = listener.accept()
            with ctx.wrap_socket(conn, server_side=True) as tls:
                received.append(tls.recv(100))
        except (OSError, ssl.SSLError):
            received.append(None)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield identity, listener.getsockname()[1], received, thread
    listener.close()
    thread.join(5)


def test_pinned_connection_accepts_the_right_key(tls_server):
    identity, port, received, thread = tls_server
    sock = connect_pinned([("127.0.0.1", port)], identity.tubid, 5)
    sock.sendall(b"hello")
    thread.join(5)
    sock.close()
    assert received == [b"hello"]


def test_pinned_connection_refuses_another_key_before_sending(tls_server):
    identity, port, received, thread = tls_server
    with pytest.raises(WrongKeyError, match="not the pinned tub id"):
        connect_pinned([("127.0.0.1", port)], Identity.create().tubid, 5)


def test_unreachable_hints_are_all_named():
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(ConnectionRefusedError, match=f"127.0.0.1:{port}"):
        connect_pinned([("127.0.0.1", port)], "a" * 52, 2)


def test_the_servers_key_never_passes_through_a_file(monkeypatch):
    import kernel.tls

    def no_files(*args, **kwargs):
        raise AssertionError("the key went to a file")

    monkeypatch.setattr(kernel.tls.tempfile, "TemporaryDirectory", no_files)
    monkeypatch.setattr(kernel.tls, "write_private", no_files)
    identity = Identity.create()
    server = kernel.tls.server_context(identity)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    threading.Thread(target=lambda: server.wrap_socket(listener.accept()[0], server_side=True).close(),
                     daemon=True).start()
    try:
        connect_pinned([("127.0.0.1", port)], identity.tubid, 10).close()
    finally:
        listener.close()
