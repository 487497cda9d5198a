"""The capability check that precedes everything else on a connection.

Right after TLS, the connecting side sends ``MAGIC``, one length byte and the
swissnum. The listening side reads at most ``GREETING_MAX`` bytes before it
knows which capability (if any) the peer holds, so an unauthenticated peer can
make it neither parse a frame nor buffer more than a few dozen bytes.
"""

from kernel import versions
from kernel.errors import CapabilityRefused, ProtocolError

MAGIC = b"KRNL1"
GREETING_MAX = len(MAGIC) + 1 + 64
REFUSED = "no such capability"


def greeting(swissnum):
    raw = swissnum.encode("ascii")
    return MAGIC + bytes([len(raw)]) + raw


def parse_greeting(buf):
    """Return ``(swissnum, rest)`` once complete, ``None`` if more bytes are needed.

    Raises ProtocolError for anything that is not a greeting.
    """
    head = bytes(buf[: len(MAGIC)])
    if head != MAGIC[: len(head)]:
        raise ProtocolError("connection did not start with a capability greeting")
    if len(buf) <= len(MAGIC):
        return None
    n = buf[len(MAGIC)]
    if not 1 <= n <= 64:
        raise ProtocolError(f"bad swissnum length {n} in greeting")
    end = len(MAGIC) + 1 + n
    if len(buf) < end:
        return None
    try:
        swissnum = bytes(buf[len(MAGIC) + 1 : end]).decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("swissnum in greeting is not ASCII") from None
    return swissnum, bytes(buf[end:])


def welcomed(header, interface, furl_file=None):
    """The controller's versions from its answer to a greeting for ``interface``.

    Raises CapabilityRefused if it refused the swissnum, or if the FURL is for
    another interface (``furl_file``, where known, is named in the message).
    """
    where = f" in {furl_file}" if furl_file else ""
    if header.get("op") == "refused":
        raise CapabilityRefused(f"the controller refused the FURL{where}: {header.get('error', REFUSED)}")
    if header.get("op") != "welcome" or header.get("interface") != interface:
        raise CapabilityRefused(f"the FURL{where} is for the {header.get('interface')!r} interface, "
                                f"not {interface!r}")
    return versions.received(header.get("versions"))
