"""Every remote method's argument decoding, fed random and malformed input.

A peer that holds a capability may still send nonsense. Each message must
either be handled (an answer, possibly an error reply) or raise ProtocolError,
which makes the connection close; nothing else may escape, and the controller
must go on serving.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from kernel.controller.engines import EngineInterface
from kernel.controller.service import ControllerConfig, ControllerService
from kernel.controller.tasks import TaskInterface
from kernel.errors import ProtocolError
from tests.harness.schema import headers

buffers = st.lists(st.binary(max_size=16), max_size=3)


class FakeTransport:
    def abortConnection(self):
        pass

    def getPeer(self):
        return None


class FakeProtocol:
    def __init__(self):
        self.sent = []
        self.transport = FakeTransport()

    def send(self, header, buffers=()):
        self.sent.append(header)

    def peer(self):
        return "fuzz"


class World:
    def __init__(self, directory):
        self.clock = Clock()
        self.service = ControllerService(self.clock, ControllerConfig(ipythondir=directory),
                                         TaskInterface.for_controller)
        self.interfaces = [EngineInterface(self.service.registry), self.service.multiengine,
                           self.service.tasks]

def _still_serving(world):
    protocol = FakeProtocol()
    world.service.multiengine.open_session(protocol).message({"op": "get_ids", "rid": 1}, [])
    assert protocol.sent[-1]["op"] == "result"
    tasks = FakeProtocol()
    world.service.tasks.open_session(tasks).message({"op": "queue_status", "rid": 2}, [])
    assert set(tasks.sent[-1]["value"]) >= {"scheduled", "pending", "succeeded", "failed"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(st.tuples(headers, buffers), min_size=1, max_size=6))
def test_random_messages_are_handled_or_close_the_connection(tmp_path_factory, messages):
    world = World(tmp_path_factory.mktemp("fuzz"))
    try:
        for interface in world.interfaces:
            protocol = FakeProtocol()
            session = interface.open_session(protocol)
            for header, bufs in messages:
                try:
                    session.message(dict(header), [bytearray(b) for b in bufs])
                except ProtocolError:
                    break  # the real protocol closes this one connection
            world.clock.advance(1)
            internal = [h for h in protocol.sent if h.get("etype") == "InternalError"]
            assert not internal, f"a fault of the controller's own: {internal[0]['message']}"
        _still_serving(world)
    finally:
        world.service.tasks.stop()
