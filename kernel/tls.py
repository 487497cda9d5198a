"""TLS with key pinning: no CA and no host names, only the tub id.

The controller holds an ECDSA P-256 key and a self-signed certificate. Its tub
id is the lowercase base32 SHA-256 of the certificate's SubjectPublicKeyInfo, so
renewing the certificate with the same key keeps every FURL valid. Clients and
engines refuse a server whose key hash is not the tub id they were given.
"""

import datetime
import hashlib
import hmac
import os
import pathlib
import socket
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kernel.errors import SecurityError, WrongKeyError
from kernel.furl import b32
from kernel.paths import write_private

CERT_DAYS = 3650


def tubid_of(cert):
    """The pin: base32 SHA-256 of the certificate's public key info."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b32(hashlib.sha256(spki).digest())


def _self_signed(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ipcontroller")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


class Identity:
    """A private key and its certificate, with the tub id derived from them."""

    def __init__(self, key, cert):
        self.key = key
        self.cert = cert
        self.tubid = tubid_of(cert)

    @classmethod
    def create(cls):
        key = ec.generate_private_key(ec.SECP256R1())
        return cls(key, _self_signed(key))

    @classmethod
    def load_or_create(cls, path):
        """Load the PEM at ``path``, or make one there (mode 0600) on first start."""
        if path.exists():
            return cls.load(path)
        identity = cls.create()
        write_private(path, identity.to_pem())
        return identity

    @classmethod
    def load(cls, path):
        data = path.read_bytes()
        try:
            key = serialization.load_pem_private_key(data, password=None)
            cert = x509.load_pem_x509_certificate(data)
        except ValueError as e:
            raise SecurityError(f"cannot read the key and certificate in {path}: {e}") from None
        if cert.public_key().public_numbers() != key.public_key().public_numbers():
            raise SecurityError(f"{path}: the certificate does not match the private key")
        return cls(key, cert)

    def to_pem(self):
        key = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return key + self.cert.public_bytes(serialization.Encoding.PEM)


def server_context(identity):
    """The controller's TLS 1.3 context, presenting ``identity``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.num_tickets = 0  # every connection is a full handshake: nothing to resume
    _load_identity(ctx, identity.to_pem())
    return ctx


def _load_identity(ctx, pem):
    """``ctx.load_cert_chain`` from bytes: the ssl module loads keys from files only.

    On Linux the file is an anonymous one in memory (``memfd_create``), so the
    key never reaches a file system; elsewhere, a 0600 file in a private
    temporary directory, removed at once.
    """
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("kernel-identity", os.MFD_CLOEXEC)
        try:
            os.write(fd, pem)
            ctx.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory() as private:
        path = pathlib.Path(private) / "identity.pem"
        write_private(path, pem)
        ctx.load_cert_chain(path)


def client_context():
    """TLS 1.3 with no CA and no host name: the peer is checked against the pin instead."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # verified against the pin, not a CA
    return ctx


def _mismatch(got, expected):
    return WrongKeyError(
        f"the server's key hash {got} is not the pinned tub id {expected}: "
        "this is not the controller named in the FURL (wrong or stale FURL file, "
        "or someone in between)"
    )


def pin_check(tubid):
    """``check_peer`` for a TLSStream: refuse a server whose key hash is not ``tubid``."""

    def check(der):
        got = tubid_of(x509.load_der_x509_certificate(der)) if der else "(no certificate)"
        return None if hmac.compare_digest(got, tubid) else _mismatch(got, tubid)

    return check


def connect_pinned(hints, tubid, timeout):
    """Open a blocking TLS socket to the first reachable hint and check the pin.

    Nothing is sent before the server's key hash has matched ``tubid``.
    """
    ctx = client_context()
    check = pin_check(tubid)
    errors = []
    for host, port in hints:
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            errors.append(f"{host}:{port}: {e.strerror or e}")
            continue
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock = ctx.wrap_socket(raw)
        except (OSError, ssl.SSLError) as e:
            raw.close()
            errors.append(f"{host}:{port}: TLS handshake failed: {e}")
            continue
        refused = check(sock.getpeercert(binary_form=True))
        if refused is not None:
            sock.close()
            raise refused
        return sock
    raise ConnectionRefusedError("cannot reach the controller at any location: " + "; ".join(errors))
