"""Recording fakes for the unit tests: a one-sided server connection with a recording interface behind a
capability, and an engine's connection as the controller sees it."""

from twisted.internet.testing import StringTransport

from kernel.wire import framing

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


class EngineConnection:
    """An engine's session as the controller's registry uses it: keeps the headers of the frames sent,
    decoded as the engine would."""

    def __init__(self):
        self.sent = []
        self.frames = []

    def send(self, header, buffers=()):
        self.send_encoded(framing.encode(header, buffers))

    def send_encoded(self, parts):
        [(header, _)] = framing.FrameDecoder().feed(b"".join(bytes(p) for p in parts))
        self.sent.append(header)
        self.frames.append(parts)

    def registered(self, handle):
        pass
