"""An engine process's core with no network: its reactor is a virtual clock that the test turns.

``runner.Engine`` runs what a read brings once the read is handed up, and
what comes outside a read on its reactor's next turn. So a test hands it
messages (``on_message``) as one read would, then ends the read and turns
the clock once (:func:`run_queued`). What another thread would hand the
reactor runs at once, and the ``stop`` that follows a ``kill`` is recorded.
"""

from twisted.internet.task import Clock

from kernel.engine.runner import Engine


class OfflineReactor(Clock):
    stopped = False

    def callFromThread(self, f, *args, **kwargs):
        f(*args, **kwargs)

    def stop(self):
        self.stopped = True


def offline_engine(connection, **options):
    """An engine registered as engine 0, whose messages come on ``connection`` (a stand-in with ``send_from_thread``)."""
    engine = Engine(OfflineReactor(), lambda: None, **options)
    engine.connector.protocol = connection
    engine.on_registered(0)
    return engine


def run_queued(engine):
    """The end of the read, then the reactor's next turn: the engine runs what it was sent."""
    engine.on_read_done()
    engine.reactor.advance(0)
