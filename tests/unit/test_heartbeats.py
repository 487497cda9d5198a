"""Heartbeats on a virtual clock: the controller asks idle engines only, the engine answers, both follow N."""

import json

import pytest
from twisted.internet.task import Clock

from kernel.controller.engines import EngineRegistry, EngineSession
from kernel.controller.heartbeats import scaled
from kernel.engine.connector import EngineConnector
from kernel.wire import framing


class Transport:
    def __init__(self):
        self.aborted = False

    def abortConnection(self):
        self.aborted = True


class Protocol:
    """The controller's end of an engine's connection: what was sent, and when bytes last came."""

    def __init__(self, clock):
        self.clock = clock
        self.transport = Transport()
        self.last_received = clock.seconds()
        self.frames = []  # the encoded frames sent, as sent

    def send(self, header, buffers=()):
        self.send_encoded(framing.encode(header, buffers))

    def send_encoded(self, parts):
        self.frames.append(parts)

    def headers(self):
        return [decode(parts) for parts in self.frames]

    def abort(self):
        self.transport.abortConnection()

    def peer(self):
        return "in-memory"


def decode(parts):
    [(header, _)] = framing.FrameDecoder().feed(b"".join(bytes(p) for p in parts))
    return header


def controller(engines, period=1.0, timeout=10.0, rate=200.0):
    clock = Clock()
    clock.advance(1000)
    registry = EngineRegistry(clock, period, timeout, rate)
    protocols = []
    for _ in range(engines):
        protocols.append(Protocol(clock))
        EngineSession(registry, protocols[-1]).message({"op": "register"}, [])
    registry.start()
    return clock, registry, protocols


def beats(protocol):
    return [h for h in protocol.headers() if h["op"] == "hb"]


def test_the_period_grows_past_the_rate_and_the_timeout_with_it():
    assert scaled(2, 1.0, 10.0, 200.0) == (1.0, 10.0)
    assert scaled(200, 1.0, 10.0, 200.0) == (1.0, 10.0)
    assert scaled(1000, 1.0, 10.0, 200.0) == (5.0, 50.0)
    assert scaled(1000, 0.5, 2.0, 500.0) == (2.0, 8.0)


def test_an_engine_registering_learns_the_period_and_timeout_of_the_cluster_it_joins():
    _, _, protocols = controller(5, rate=2.0)
    periods = [(h["heartbeat_period"], h["heartbeat_timeout"]) for p in protocols for h in p.headers()
               if h["op"] == "registered"]
    assert periods == [(1.0, 10.0), (1.0, 10.0), (1.5, 15.0), (2.0, 20.0), (2.5, 25.0)]


def test_idle_engines_get_one_frame_encoded_once_carrying_period_and_timeout():
    clock, registry, protocols = controller(3)
    for p in protocols:
        p.frames.clear()
    clock.advance(1.0)
    sent = [p.frames for p in protocols]
    assert all(len(frames) == 1 for frames in sent)
    assert sent[0][0] is sent[1][0] is sent[2][0]  # the same encoded frame for every engine
    assert decode(sent[0][0]) == {"op": "hb", "heartbeat_period": 1.0, "heartbeat_timeout": 10.0}


def test_no_beat_on_a_connection_that_carried_traffic_both_ways_within_the_period():
    clock, registry, protocols = controller(2)
    busy, idle = protocols
    for _ in range(5):
        clock.advance(0.5)
        registry.get(0).session.send({"op": "interrupt"})  # written to it
        busy.last_received = clock.seconds()  # heard from it
    assert beats(busy) == [] and len(beats(idle)) >= 2


def test_an_engine_only_heard_from_or_only_written_to_is_still_asked():
    clock, registry, protocols = controller(2)
    heard, written = protocols
    for _ in range(4):
        clock.advance(0.5)
        heard.last_received = clock.seconds()
        registry.get(1).session.send({"op": "interrupt"})
    assert len(beats(heard)) >= 1  # the engine must hear the controller too
    assert len(beats(written)) >= 1  # and the controller the engine: the beat asks for an answer


def test_a_round_sends_at_most_rate_times_period_beats_and_every_engine_gets_one_within_its_period():
    clock, registry, protocols = controller(10, period=1.0, rate=4.0)  # period(10) = 2.5 s, 4 beats a round
    for p in protocols:
        p.frames.clear()
    per_round = []
    for _ in range(5):
        clock.advance(1.0)
        per_round.append(sum(len(beats(p)) for p in protocols))
        for p in protocols:  # every engine answers what it got
            if p.frames:
                p.last_received = clock.seconds()
    rounds = [b - a for a, b in zip([0, *per_round], per_round)]
    assert max(rounds) <= 4
    assert all(beats(p) for p in protocols)
    assert registry.ids() == list(range(10))  # nobody timed out


def test_an_engine_silent_past_the_scaled_timeout_is_unregistered_and_its_connection_aborted():
    clock, registry, protocols = controller(3, period=1.0, timeout=3.0, rate=1.0)  # period 3 s, timeout 9 s
    talking, silent = protocols[:2], protocols[2]
    for _ in range(8):
        clock.advance(1.0)
        for p in talking:
            p.last_received = clock.seconds()
    assert registry.ids() == [0, 1, 2]  # 8 s: past the unscaled 3 s, within the scaled 9 s
    clock.advance(2.0)
    assert registry.ids() == [0, 1]
    assert silent.transport.aborted and not talking[0].transport.aborted


def test_engines_told_a_shorter_timeout_while_the_cluster_grew_hear_from_the_controller_within_it():
    # the scale test's settings: 0.5 s and 2 s, scaled past 500 beats a second. Engines that joined
    # while the cluster was small were told 2 s; at 1,000 engines the period is 2 s, the timeout 8 s.
    clock, registry, protocols = controller(1000, period=0.5, timeout=2.0, rate=500.0)
    told = {}  # engine: (the timeout it was last told, when it last heard from the controller)
    for p in protocols:
        [registered] = p.headers()
        told[p] = (registered["heartbeat_timeout"], clock.seconds())
        p.frames.clear()
    assert min(timeout for timeout, _ in told.values()) == 2.0
    for _ in range(60):  # 15 s
        clock.advance(0.25)
        for p in protocols:
            timeout, heard = told[p]
            for beat in beats(p):
                timeout, heard = beat["heartbeat_timeout"], clock.seconds()
                p.last_received = clock.seconds()  # the engine answers
            p.frames.clear()
            assert clock.seconds() - heard <= timeout, "an engine would give the controller up as silent"
            told[p] = (timeout, heard)
    assert {timeout for timeout, _ in told.values()} == {8.0}  # each has learned the cluster's timeout


def test_the_controller_reads_what_waits_before_it_gives_an_engine_up():
    clock, registry, protocols = controller(2, period=1.0, timeout=3.0)
    clock.rightNow += 20.0  # the controller's process stalled; both engines' answers wait unread
    registry.heartbeats._round()  # its timers run first: both silent for 20 s, past the 3 s timeout
    assert registry.ids() == [0, 1]
    protocols[0].last_received = clock.seconds()  # the reactor's next turn reads engine 0's answer only
    clock.advance(0)
    assert registry.ids() == [0]
    assert protocols[1].transport.aborted and not protocols[0].transport.aborted


class EngineProtocol:
    """The engine's end of its connection, as the connector sees it."""

    def __init__(self, clock):
        self.clock = clock
        self.transport = Transport()
        self.last_received = clock.seconds()
        self.peer_versions = {}
        self.sent = []

    def send(self, header, buffers=()):
        self.sent.append(header)

    def send_encoded(self, parts):
        self.sent.append(decode(parts))


class Handler:
    def on_registered(self, engine_id):
        pass


def connected_engine():
    clock = Clock()
    connector = EngineConnector(clock, lambda: None, Handler())
    protocol = EngineProtocol(clock)
    connector._welcomed(protocol)
    protocol.sent.clear()  # the registration
    connector.registered({"op": "registered", "id": 0, "heartbeat_period": 1.0, "heartbeat_timeout": 4.0})
    return clock, connector, protocol


def test_an_engine_answers_each_beat_with_a_bare_one_and_never_beats_on_its_own():
    clock, connector, protocol = connected_engine()
    for _ in range(3):
        clock.advance(1.0)
        protocol.last_received = clock.seconds()
    assert protocol.sent == []
    connector.beat({"op": "hb", "heartbeat_period": 1.0, "heartbeat_timeout": 4.0})
    assert protocol.sent == [{"op": "hb"}]


@pytest.mark.parametrize("silence, aborted", [(3.5, False), (5.0, True)])
def test_an_engine_aborts_a_connection_silent_past_the_timeout_it_was_told(silence, aborted):
    clock, connector, protocol = connected_engine()
    for _ in range(int(silence * 2)):
        clock.advance(0.5)
    assert protocol.transport.aborted is aborted


def test_an_engine_reads_what_waits_before_it_gives_the_controller_up():
    clock, connector, protocol = connected_engine()
    clock.rightNow += 10.0  # the engine's process stalled; the controller's beat waits unread meanwhile
    connector._check()  # its timers run first: silent for 10 s, past the 4 s it was told
    assert not protocol.transport.aborted
    protocol.last_received = clock.seconds()  # the reactor's next turn reads the beat
    clock.advance(0)
    assert not protocol.transport.aborted
    clock.advance(5.0)  # and then nothing for 5 s
    assert protocol.transport.aborted


def test_an_engine_follows_the_period_and_timeout_a_beat_carries():
    clock, connector, protocol = connected_engine()
    connector.beat({"op": "hb", "heartbeat_period": 5.0, "heartbeat_timeout": 50.0})
    clock.advance(45.0)  # silent past the 4 s it was first told, within the 50 s it follows now
    assert not protocol.transport.aborted
    clock.advance(10.0)
    assert protocol.transport.aborted
    assert json.loads(json.dumps(protocol.sent)) == [{"op": "hb"}]
