"""Host keys from engine registration to the client's choice of path, without a network."""

from twisted.internet.task import Clock

from kernel.client.samehost import SameHost
from kernel.controller.engines import EngineRegistry, EngineSession
from kernel.controller.multiengine import MultiEngineInterface
from kernel.wire import messages

KEY = "ab" * 32


class FakeProtocol:
    def __init__(self):
        self.sent = []

    def send(self, header, buffers=()):
        self.sent.append(header)

    def peer(self):
        return "127.0.0.1:1"


class FakeController:
    config = None


class ControllerConnection:
    """What ``SameHost`` calls: requests answered by a real multiengine session."""

    def __init__(self, interface):
        self.protocol = FakeProtocol()
        self.session = interface.open_session(self.protocol)

    def call(self, header):
        self.session.message(dict(header, rid=1), [])
        return self.protocol.sent.pop(), []

    def engine_info(self):
        """What ``MultiEngineClient.engine_info`` answers."""
        header, _ = self.call(messages.EngineInfo.header())
        return header["value"]


def controller_with(*registrations):
    registry = EngineRegistry(Clock())
    for fields in registrations:
        EngineSession(registry, FakeProtocol()).message({"op": "register", **fields}, [])
    return ControllerConnection(MultiEngineInterface(registry, FakeController()))


def test_the_controller_keeps_a_well_formed_host_key_and_nothing_else():
    connection = controller_with({"pid": 10, "host_key": KEY}, {"pid": 11, "host_key": "../x"},
                                 {"pid": 12, "host_key": KEY.upper()}, {"pid": 13})
    assert [(e["id"], e["pid"], e["host_key"]) for e in connection.engine_info()["engines"]] == [
        (0, 10, KEY), (1, 11, None), (2, 12, None), (3, 13, None)]


def test_engines_on_this_host_are_those_with_its_key_and_a_pid():
    connection = controller_with({"pid": 10, "host_key": KEY}, {"pid": 11, "host_key": "cd" * 32},
                                 {"host_key": KEY}, {"pid": 13, "host_key": KEY})
    here = SameHost(connection.engine_info, enabled=True)
    here.key = KEY
    assert here.engines("all") == ([0, 1, 2, 3], [10, None, None, 13])
    assert here.engines(3) == ([3], [13])
    assert here.engines([3, 0, 7]) == ([3, 0, 7], [13, 10, None])  # 7: not registered


def test_with_shared_memory_off_no_engine_is_on_this_host_and_pulls_ask_for_nothing():
    here = SameHost(controller_with({"pid": 10, "host_key": KEY}).engine_info, enabled=False)
    assert here.key is None
    assert here.engines([0]) == ([0], [None])
    assert here.pull_args({"keys": "a"}) == {"keys": "a"}
    here.key = KEY
    asked = here.pull_args({"keys": "a"})["shared_memory"]
    assert asked["host_key"] == KEY and asked["pid"] > 0
