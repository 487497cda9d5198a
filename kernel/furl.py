"""FURLs: the names of capabilities.

``pb://<tubid>@<host>:<port>[,<host>:<port>...]/<swissnum>``. The tub id is the
lowercase base32 SHA-256 of the controller's public key; the swissnum is an
unguessable secret. Holding a FURL is the right to use what it names.
"""

import re
import secrets
from base64 import b32encode
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import BadFURLError

TUBID_LENGTH = 52  # base32 of 32 bytes, padding removed
SWISSNUM_BYTES = 20  # 160 bits
_B32 = re.compile(r"[a-z2-7]+\Z")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\Z")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]{2,45}\]\Z")


def b32(data):
    return b32encode(data).decode("ascii").rstrip("=").lower()


def new_swissnum():
    return b32(secrets.token_bytes(SWISSNUM_BYTES))


@dataclass(frozen=True)
class FURL:
    tubid: str
    hints: tuple  # ((host, port), ...)
    swissnum: str

    def __str__(self):
        hints = ",".join(
            f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in self.hints
        )
        return f"pb://{self.tubid}@{hints}/{self.swissnum}"


def _parse_hint(hint):
    host, sep, port = hint.rpartition(":")
    if not sep or not host:
        raise BadFURLError(f"bad location hint {hint!r}: expected host:port")
    if not (_HOSTNAME.match(host) or _IPV6.match(host)):
        raise BadFURLError(f"bad host {host!r} in location hint {hint!r}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise BadFURLError(f"bad port {port!r} in location hint {hint!r}")
    return host.strip("[]"), int(port)


def parse(text):
    """Parse a FURL string strictly; raise BadFURLError quoting the bad part."""
    if not isinstance(text, str):
        raise BadFURLError(f"a FURL must be a string, not {type(text).__name__}")
    text = text.strip()
    if not text.startswith("pb://"):
        raise BadFURLError(f"not a FURL (must start with 'pb://'): {_shown(text)[:60]!r}")
    rest = text[len("pb://"):]
    tubid, at, rest = rest.partition("@")
    if not at:
        raise BadFURLError(f"FURL has no '@' after the tub id: {_shown(text)[:80]!r}")
    if len(tubid) != TUBID_LENGTH or not _B32.match(tubid):
        raise BadFURLError(f"bad tub id {tubid[:80]!r}: expected {TUBID_LENGTH} base32 characters")
    hints, slash, swissnum = rest.partition("/")
    if not slash:
        raise BadFURLError(f"FURL has no '/<swissnum>' part: {_shown(text)[:80]!r}")
    if len(swissnum) < 26 or len(swissnum) > 64 or not _B32.match(swissnum):
        raise BadFURLError(f"bad swissnum (of {len(swissnum)} characters): expected 26 to 64 base32 characters")
    if not hints:
        raise BadFURLError(f"FURL has no location hints: {_shown(text)[:80]!r}")
    return FURL(tubid, tuple(_parse_hint(h) for h in hints.split(",")), swissnum)


def _shown(text):
    """A FURL as quoted in an error: without its swissnum, the secret."""
    head, slash, _ = text.rpartition("/")
    return f"{head}/<swissnum>" if slash and head.count("/") >= 2 else text


def load(furl_or_file):
    """Accept a ``pb://`` string or a path to a file holding one."""
    if isinstance(furl_or_file, FURL):
        return furl_or_file
    if isinstance(furl_or_file, tuple):
        raise BadFURLError(
            f"a (host, port) address like {furl_or_file!r} is not enough: connecting needs the "
            "capability in a FURL file. The controller writes ipcontroller-mec.furl and "
            "ipcontroller-tc.furl into DIR/security/; pass that file's path (or nothing, to use "
            "the default directory)"
        )
    text = str(furl_or_file)
    if text.startswith("pb://"):
        return parse(text)
    path = Path(text).expanduser()
    if not path.is_file():
        raise BadFURLError(f"not a FURL or a file containing a FURL: {text!r} (no such file)")
    try:
        return parse(path.read_text(encoding="utf-8"))
    except BadFURLError as e:
        raise BadFURLError(f"{path}: {e}") from None
