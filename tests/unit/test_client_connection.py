"""The client's connection against a scripted controller: what it accepts from the wire.

The controller here is a stdlib TLS server on 127.0.0.1 that answers the
greeting with ``welcome`` and each request with what the test scripts, so the
client's own checks are tested alone.
"""

import re
import socket
import ssl
import threading

import pytest

from kernel import errors
from kernel import furl as furls
from kernel.client.connection import Connection
from kernel.client.multiengine import MultiEngineClient
from kernel.tls import Identity
from kernel.wire import framing, messages
from kernel.wire.greeting import greeting


class ScriptedController:
    """Welcomes one client to ``interface``, then answers its requests with ``answer(header)``."""

    def __init__(self, tmp_path, interface, answer, versions=None):
        identity = Identity.create()
        pem = tmp_path / "controller.pem"
        pem.write_bytes(identity.to_pem())
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pem)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.swissnum = furls.new_swissnum()
        self.furl = f"pb://{identity.tubid}@127.0.0.1:{self.listener.getsockname()[1]}/{self.swissnum}"
        self.interface, self.answer, self.versions = interface, answer, versions
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _send(self, tls, header):
        for part in framing.encode(header):
            tls.sendall(part)

    def _serve(self):
        try:
            conn, _ = self.listener.accept()
            with self.context.wrap_socket(conn, server_side=True) as tls:
                expected = greeting(self.swissnum)
                got = b""
                while len(got) < len(expected):
                    got += tls.recv(len(expected) - len(got))
                self._send(tls, messages.Welcome.header(interface=self.interface, versions=self.versions))
                decoder = framing.FrameDecoder()
                while data := tls.recv(1 << 16):
                    for header, _ in decoder.feed(data):
                        self._send(tls, self.answer(header))
        except (OSError, ssl.SSLError):
            pass  # the client went away

    def close(self):
        self.listener.close()
        self.thread.join(10)


@pytest.fixture
def controller(tmp_path):
    made = []

    def make(answer, interface="mec", versions=None):
        made.append(ScriptedController(tmp_path, interface, answer, versions))
        return made[-1]

    yield make
    for server in made:
        server.close()


def test_a_well_formed_answer_is_returned(controller):
    server = controller(lambda h: messages.Result.header(rid=h["rid"], value=[0, 1]))
    connection = Connection(server.furl, "mec")
    header, _ = connection.call(messages.GetIds.header())
    assert header["value"] == [0, 1]
    connection.close()


@pytest.mark.parametrize("answer, cause", [
    (lambda h: {"op": "nonsense", "rid": h["rid"]}, "unknown controller-to-client message 'nonsense'"),
    (lambda h: messages.Result.header(rid=h["rid"], surprise=1), "a 'result' message has no field 'surprise'"),
    (lambda h: messages.Result.header(rid="one"), "result.rid must be an int >= 0"),
    (lambda h: messages.Error.header(rid=h["rid"], message="no etype"), "a 'error' message needs its field 'etype'"),
])
def test_an_answer_that_breaks_the_protocol_drops_the_connection_naming_why(controller, answer, cause):
    server = controller(answer)
    connection = Connection(server.furl, "mec")
    with pytest.raises(errors.ConnectionLost, match=re.escape("breaks the protocol: " + cause)):
        connection.call(messages.GetIds.header())
    assert not connection.connected


def _engines_that_echo_unless_asked(calls):
    """An answer for ``execute`` on engines 0 and 1 (which leave ``input`` out when asked); keeps the calls."""
    def answer(header):
        calls.append(header)
        echo = {} if header["args"].get("echo") is False else {"input": {"raw": "x", "translated": "x"}}
        return messages.Result.header(rid=header["rid"], results=[
            {"status": "ok", "id": eid, "n": 0, "value": {"id": eid, "number": 1, **echo, "stdout": "1\n"}}
            for eid in (0, 1)])
    return answer


@pytest.mark.parametrize("versions, asked", [(None, {"code": "x"}), ({"protocol": "1"}, {"code": "x"}),
                                             ({"protocol": "2"}, {"code": "x", "echo": False})])
def test_execute_asks_for_no_echo_only_of_a_controller_that_speaks_it_and_fills_input_in(
        controller, versions, asked):
    calls = []
    server = controller(_engines_that_echo_unless_asked(calls), versions=versions)
    mec = MultiEngineClient(server.furl, shared_memory=False)
    results = mec.execute("x", targets=[0, 1])
    [call] = calls
    assert call["args"] == asked
    assert [list(r) for r in results] == [["id", "number", "input", "stdout"]] * 2  # the legacy order
    assert all(r["input"] == {"raw": "x", "translated": "x"} for r in results)
    mec.close()


def test_a_welcome_to_another_interface_is_refused(controller):
    server = controller(lambda h: None, interface="tc")
    with pytest.raises(errors.CapabilityRefused, match="for the 'tc' interface, not 'mec'"):
        Connection(server.furl, "mec")


@pytest.mark.parametrize("interface, words, name", [
    ("mec", "multiengine", "ipcontroller-mec.furl"), ("tc", "task", "ipcontroller-tc.furl")])
def test_without_a_furl_the_default_file_must_exist_and_the_error_says_where(
        tmp_path, monkeypatch, interface, words, name):
    from kernel.client import MultiEngineClient, TaskClient

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    make = {"mec": MultiEngineClient, "tc": TaskClient}[interface]
    with pytest.raises(errors.BadFURLError, match=f"no {words} FURL file at {tmp_path}/security/{name}: "
                                                   "is ipcontroller running"):
        make()
