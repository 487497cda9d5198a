"""Hostile peers: what an attacker who can reach the ports might send.

Each case connects to ``port`` on loopback, misbehaves, and returns whether the
controller closed the connection on it (True is the defended outcome), or
leaves the connection open and returns the socket (``silent`` cases). The
integration tests run every case against both ports and then check that the
controller still serves its legitimate clients. Run as a script to try them
against a controller by hand: ``python -m security.hostile PORT [SWISSNUM]``.
"""

import os
import socket
import ssl
import struct
import sys

from kernel.wire.greeting import greeting


def _raw(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _tls(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # an attacker does not care who answers
    return ctx.wrap_socket(_raw(port))


def closed_by_peer(sock, limit=1 << 20):
    """Whether the controller closes the connection, after whatever it sends first (its welcome, say)."""
    received = 0
    try:
        while received < limit:
            data = sock.recv(65536)
            if not data:
                return True
            received += len(data)
    except socket.timeout:
        return False
    except (ConnectionResetError, ssl.SSLError, OSError):
        return True
    return False


def _send_and_check(sock, data):
    with sock:
        sock.sendall(data)
        return closed_by_peer(sock)


def random_bytes(port):
    """Not even TLS."""
    return _send_and_check(_raw(port), os.urandom(4096))


def http_request(port):
    return _send_and_check(_raw(port), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


def tls_then_garbage(port):
    """A TLS session whose first bytes are not a capability greeting."""
    return _send_and_check(_tls(port), b"\x00" * 100)


def tls_then_flood(port):
    """Megabytes where a 70-byte greeting belongs: must not be buffered."""
    sock = _tls(port)
    with sock:
        try:
            sock.sendall(b"KRNL1" + b"\x40" + b"a" * (8 << 20))
        except OSError:
            return True
        return closed_by_peer(sock)


def tls_then_silence(port):
    """A handshake, then nothing: dropped after the pre-auth timeout. Returns the socket."""
    return _tls(port)


def oversized_header(port, swissnum):
    """Authenticated, then a frame claiming a 4 GB header."""
    return _send_and_check(_tls(port), greeting(swissnum) + struct.pack("!IH", 0xFFFFFFF0, 0))


def truncated_frame(port, swissnum):
    """Authenticated, then half a frame and a close."""
    sock = _tls(port)
    with sock:
        sock.sendall(greeting(swissnum) + struct.pack("!IH", 100, 0) + b'{"op":')
    return True


def unknown_message(port, swissnum):
    """Authenticated, then a well-formed frame the interface does not know."""
    header = b'{"op":"format_disk","rid":1}'
    return _send_and_check(_tls(port), greeting(swissnum) + struct.pack("!IH", len(header), 0) + header)


UNAUTHENTICATED = [random_bytes, http_request, tls_then_garbage, tls_then_flood]
AUTHENTICATED = [oversized_header, truncated_frame, unknown_message]


def main(argv):
    port = int(argv[0])
    for case in UNAUTHENTICATED:
        print(f"{case.__name__}: {'closed' if case(port) else 'STILL OPEN'}")
    if len(argv) > 1:
        for case in AUTHENTICATED:
            print(f"{case.__name__}: {'closed' if case(port, argv[1]) else 'STILL OPEN'}")


if __name__ == "__main__":
    main(sys.argv[1:])
