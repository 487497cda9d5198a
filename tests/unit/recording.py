"""A one-sided server connection for the wire's unit tests: a recording interface behind a capability."""

from twisted.internet.testing import StringTransport

SWISS = "s" * 32  # the capability the recording interface is listed under


class TCPStringTransport(StringTransport):
    """A StringTransport with the TCP methods the server protocol calls."""

    def setTcpNoDelay(self, enabled):
        self.nodelay = enabled

    def abortConnection(self):
        self.disconnecting = True


class RecordingInterface:
    """An interface that opens sessions which keep every message they get."""

    name = "test"
    max_frame = 1000

    def __init__(self):
        self.sessions = []

    def open_session(self, protocol):
        session = RecordingSession()
        self.sessions.append(session)
        return session


class RecordingSession:
    def __init__(self):
        self.messages = []
        self.closed_with = None

    def message(self, header, buffers):
        self.messages.append((header, [bytes(b) for b in buffers]))

    def closed(self, reason):
        self.closed_with = reason
