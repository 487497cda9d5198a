"""The controller process's service: keys, listeners, capabilities and FURL files.

Two TLS listeners: one for engines, one for clients (the multiengine and
task FURLs share it); with ``relays``, relay processes serve the engines'
port instead (``kernel.controller.relays``). Each FURL's swissnum opens
exactly one interface. With fixed ports (or ``reuse_furls``) and the same
directory, the key and the swissnums of the existing FURL files are kept, so
old FURL files still work.
"""

import socket
from dataclasses import dataclass
from pathlib import Path

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from kernel import furl as furls
from kernel import paths
from kernel.controller.engines import EngineInterface, EngineRegistry
from kernel.controller.multiengine import MultiEngineInterface
from kernel.controller.relays import Relays
from kernel.errors import BadFURLError
from kernel.settings import ControllerSettings
from kernel.tls import Identity, server_context
from kernel.wire import messages, transport
from kernel.wire.pool import BufferPool
from kernel.wire.admission import Admission, limit_in_all
from kernel.wire.protocol import CapabilityTable, ServerFactory
from kernel.wire.tlsstream import TLSStreamFactory


@dataclass(kw_only=True)
class ControllerConfig(ControllerSettings):
    """Where the controller listens and keeps its files, and its settings (the fields it inherits)."""

    ipythondir: Path
    client_ip: str = ""
    client_port: int = 0
    client_location: str = ""
    engine_ip: str = ""
    engine_port: int = 0
    engine_location: str = ""
    engine_furl_file: Path | None = None
    multiengine_furl_file: Path | None = None
    task_furl_file: Path | None = None
    engine_cert_file: Path | None = None
    client_cert_file: Path | None = None
    reuse_furls: bool = False
    reset_db: bool = False  # start with an empty task store

    def __post_init__(self):
        security = paths.security_dir(self.ipythondir)
        self.engine_furl_file = Path(self.engine_furl_file or security / paths.ENGINE_FURL)
        self.multiengine_furl_file = Path(self.multiengine_furl_file or security / paths.MEC_FURL)
        self.task_furl_file = Path(self.task_furl_file or security / paths.TC_FURL)
        self.engine_cert_file = Path(self.engine_cert_file or security / "ipcontroller-engine.pem")
        self.client_cert_file = Path(self.client_cert_file or security / "ipcontroller-client.pem")

    @property
    def keeps_furls(self):
        """Old FURLs stay valid only when they can: fixed ports, or asked with -r."""
        return self.reuse_furls or (self.client_port != 0 and self.engine_port != 0)


def _host_address():
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return None
    return None if address.startswith("127.") else address


def location_hints(ip, location, port):
    """The host:port pairs written into a FURL for one listener."""
    if location:
        return tuple((host.strip(), port) for host in location.split(","))
    if ip in ("127.0.0.1", "localhost"):
        return (("127.0.0.1", port),)
    if ip:
        return ((ip, port),)
    address = _host_address()
    return ((address, port), ("127.0.0.1", port)) if address else (("127.0.0.1", port),)


class ControllerService(Service):
    log = Logger()

    def __init__(self, reactor, config, task_interface_factory=None):
        self.reactor = reactor
        self.config = config
        self.registry = EngineRegistry(
            reactor, config.heartbeat_period, config.heartbeat_timeout, config.heartbeat_rate
        )
        self.engine_table = CapabilityTable()
        self.client_table = CapabilityTable()
        self.multiengine = MultiEngineInterface(self.registry, self)
        self.tasks = task_interface_factory(self) if task_interface_factory else None
        self.ports = []
        self.relays = None
        self.furls = {}
        self.stopped = defer.Deferred()
        self.buffers = BufferPool(reactor)  # big frames are forwarded; their memory is reused
        self._trim = LoopingCall(self.buffers.trim)
        self._trim.clock = reactor
        # both ports' connections that have not authenticated yet, counted together
        self.admission = Admission(reactor, config.preauth_per_peer, limit_in_all(config.preauth_max),
                                   config.preauth_grace)

    # -- hooks used by the interfaces ------------------------------------------

    def properties_changed(self, eid):
        if self.tasks is not None:
            self.tasks.properties_changed(eid)

    def stop_soon(self, why):
        self.log.info("stopping: {why}", why=why)
        self.reactor.callLater(0.2, self.reactor.stop)

    # -- start and stop ---------------------------------------------------------

    def startService(self):
        super().startService()
        config = self.config
        engine_identity = Identity.load_or_create(config.engine_cert_file)
        client_identity = Identity.load_or_create(config.client_cert_file)
        engines = EngineInterface(self.registry)
        if config.relays:
            self.relays = Relays(self.reactor, config.relays, engines, self.buffers.allocate)
            engine_port = self.relays.listen(config.engine_port, config.engine_ip)
        else:
            engine_port = self._listen(config.engine_ip, config.engine_port, engine_identity, self.engine_table)
        client_port = self._listen(config.client_ip, config.client_port, client_identity, self.client_table)
        engine_hints = location_hints(config.engine_ip, config.engine_location, engine_port)
        client_hints = location_hints(config.client_ip, config.client_location, client_port)
        engine_table = None if self.relays is not None else self.engine_table  # the relays get the swissnum
        interfaces = [
            (config.engine_furl_file, engine_identity, engine_hints, engine_table, engines),
            (config.multiengine_furl_file, client_identity, client_hints, self.client_table,
             self.multiengine),
        ]
        if self.tasks is not None:
            interfaces.append((config.task_furl_file, client_identity, client_hints,
                               self.client_table, self.tasks))
        for path, identity, hints, table, interface in interfaces:
            swissnum = self._swissnum_for(path, identity)
            if table is not None:
                table.add(swissnum, interface)
            furl = furls.FURL(identity.tubid, hints, swissnum)
            paths.write_private(path, str(furl) + "\n")
            self.furls[interface.name] = (furl, path)
            self.log.info("{name} FURL written to {path}", name=interface.name, path=path)
        if self.relays is not None:
            self.relays.start(messages.RelaySetup.header(
                swissnum=self.furls[engines.name][0].swissnum, cert_file=str(config.engine_cert_file),
                preauth_timeout=config.preauth_timeout, preauth_grace=config.preauth_grace,
                preauth_per_peer=config.preauth_per_peer, preauth_max=config.preauth_max))
        self.registry.start()
        if self.tasks is not None:
            self.tasks.start()
        self._trim.start(self.buffers.idle_seconds, now=False)

    def _listen(self, ip, port, identity, table):
        factory = ServerFactory(table, self.reactor, self.admission, self.config.preauth_timeout,
                                allocate=self.buffers.allocate)
        tls = TLSStreamFactory(factory, server_context(identity), server_side=True)
        listening = transport.listen(self.reactor, port, tls, interface=ip)
        self.ports.append(listening)
        return listening.getHost().port

    def _swissnum_for(self, path, identity):
        """Reuse the swissnum of an existing FURL file when FURLs are kept."""
        if self.config.keeps_furls and path.exists():
            try:
                old = furls.load(str(path))
            except BadFURLError as e:
                self.log.warn("ignoring unreadable FURL file: {e}", e=e)
            else:
                if old.tubid == identity.tubid:
                    return old.swissnum
        return furls.new_swissnum()

    def stopService(self):
        super().stopService()
        if self._trim.running:
            self._trim.stop()
        self.admission.stop()
        self.registry.stop()
        if self.tasks is not None:
            self.tasks.stop()
        for handle in list(self.registry.engines.values()):
            handle.session.send(messages.Bye.header())
        ports, self.ports = self.ports, []
        stopping = [defer.maybeDeferred(p.stopListening) for p in ports]
        if self.relays is not None:
            stopping.append(self.relays.stop())
        d = defer.gatherResults(stopping)
        d.addCallback(lambda _: self.log.info("controller stopped; FURL files kept"))
        return d
