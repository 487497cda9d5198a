"""The relay process the controller starts for ``--relays`` (``kernel.controller.relays``); not run by hand.

It finds its end of the link to the controller on fd 3 and the engine port's
listening socket on fd 4, and logs to stderr, which the controller copies
into its own log.
"""

import signal
import socket
import sys

from twisted.logger import FileLogObserver, formatEventAsClassicLogText, globalLogBeginner

from kernel.apps.common import raise_file_limit
from kernel.controller.relay import ControllerLink
from kernel.controller.relays import LINK_FD, LISTEN_FD
from kernel.wire.transport import SocketTransport


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the controller's to act on
    # the controller logs each line with the time and the relay's number
    lines = FileLogObserver(sys.stderr, lambda event: formatEventAsClassicLogText(event, formatTime=lambda _: ""))
    globalLogBeginner.beginLoggingTo([lines], redirectStandardIO=False)
    raise_file_limit()  # an engine is a connection
    from twisted.internet import reactor

    link_socket = socket.socket(fileno=LINK_FD)
    link_socket.setblocking(False)
    listening = socket.socket(fileno=LISTEN_FD)
    listening.setblocking(False)
    link = ControllerLink(reactor, listening)
    reactor.callWhenRunning(lambda: SocketTransport(reactor, link_socket, link).start())
    reactor.run(installSignalHandlers=False)


if __name__ == "__main__":
    main()
