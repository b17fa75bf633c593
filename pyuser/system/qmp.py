"""A QMP server (QEMU Machine Protocol) on a unix socket.

Protocol facts from QEMU's docs/interop/qmp-spec: the server greets with
{"QMP": {"version": ..., "capabilities": [...]}}; the client must send
qmp_capabilities before any other command (until then: CommandNotFound);
each reply is {"return": ...} or {"error": {"class", "desc"}} and echoes the
request's "id"; events are {"event", "data", "timestamp": {"seconds",
"microseconds"}}.  device_del announces completion with DEVICE_DELETED
{"device": id, "path": path}; quit answers, then emits SHUTDOWN.

Connections are served by host threads, but every command runs on the
emulation thread at a safe point (:meth:`CpuLoop.call`).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import __version__
from .devicetree import build_dtb
from .errors import DeviceNotFound, SystemError_
from .qdev import device_add, device_del

COMMAND_TIMEOUT = 30.0
# Containers that always exist, as in QEMU, even when empty.
CONTAINERS = ("/machine/peripheral", "/machine/peripheral-anon")


class QmpError(Exception):
    def __init__(self, desc: str, klass: str = "GenericError") -> None:
        super().__init__(desc)
        self.klass = klass


class QmpServer:
    def __init__(self, path: str, loop: Any, machine: Any) -> None:
        self.path = path
        self.loop = loop
        self.machine = machine
        self.clients: list[_Client] = []
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        loop.event_listeners.append(self.broadcast)
        self.commands: dict[str, Callable[[dict[str, Any]], Any]] = {
            "query-version": self.query_version,
            "query-status": self.query_status,
            "query-commands": self.query_commands,
            "stop": lambda a: self.loop.stop() or {},
            "cont": lambda a: self.loop.cont() or {},
            "quit": self.quit,
            "device_add": self.device_add,
            "device_del": self.device_del,
            "qom-list": self.qom_list,
            "qom-get": self.qom_get,
            "dumpdtb": self.dumpdtb,
        }

    # The arguments each command takes: (required, optional); None: free-form
    # (device_add takes the device's properties).  QEMU's schema refuses
    # anything else with "Parameter 'x' is unexpected" (qapi/qobject-input-visitor.c).
    ARGUMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]] | None] = {
        "qmp_capabilities": ((), ("enable",)),
        "query-version": ((), ()),
        "query-status": ((), ()),
        "query-commands": ((), ()),
        "stop": ((), ()),
        "cont": ((), ()),
        "quit": ((), ()),
        "device_add": None,
        "device_del": (("id",), ()),
        "qom-list": (("path",), ()),
        "qom-get": (("path", "property"), ()),
        "dumpdtb": (("filename",), ()),
    }

    @classmethod
    def check_arguments(cls, name: str, args: Any) -> None:
        if not isinstance(args, dict):
            raise QmpError("QMP input member 'arguments' must be an object")
        spec = cls.ARGUMENTS.get(name)
        if spec is None:
            if name == "device_add" and "driver" not in args:
                raise QmpError("Parameter 'driver' is missing")
            return
        required, optional = spec
        for key in args:
            if key not in required and key not in optional:
                raise QmpError(f"Parameter '{key}' is unexpected")
        for key in required:
            if key not in args:
                raise QmpError(f"Parameter '{key}' is missing")

    # -- sockets

    def listen(self, wait: bool) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        if wait:  # QEMU's default for a server socket: the guest starts once a client is there
            self._accept_one()
        threading.Thread(target=self._accept_loop, name="qmp-accept", daemon=True).start()

    def close(self) -> None:
        with self.lock:
            clients = list(self.clients)
        deadline = time.monotonic() + 2.0
        while any(c.busy for c in clients) and time.monotonic() < deadline:
            time.sleep(0.005)  # let a reply already computed (e.g. to quit) go out
        for client in clients:
            client.close()
        if self.sock is not None:
            self.sock.close()
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def _accept_loop(self) -> None:
        while True:
            try:
                self._accept_one()
            except OSError:
                return

    def _accept_one(self) -> None:
        assert self.sock is not None
        conn, _ = self.sock.accept()
        client = _Client(self, conn)
        with self.lock:
            self.clients.append(client)
        threading.Thread(target=client.serve, name="qmp-client", daemon=True).start()

    def broadcast(self, event: str, data: dict[str, Any]) -> None:
        now = time.time()
        message = {"event": event, "data": data,
                   "timestamp": {"seconds": int(now), "microseconds": int(now * 1e6) % 1_000_000}}
        with self.lock:
            clients = [c for c in self.clients if c.negotiated]
        for client in clients:
            client.send(message)

    # -- commands (these run on the emulation thread)

    def dispatch(self, name: str, args: dict[str, Any]) -> Any:
        handler = self.commands.get(name)
        if handler is None:
            raise QmpError(f"The command {name} has not been found", "CommandNotFound")
        self.check_arguments(name, args)
        future = self.loop.call(lambda: handler(args))
        try:
            return future.result(timeout=COMMAND_TIMEOUT)
        except DeviceNotFound as exc:
            raise QmpError(str(exc), "DeviceNotFound") from None
        except SystemError_ as exc:
            raise QmpError(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise QmpError(f"Invalid arguments: {exc}") from None
        except RuntimeError as exc:
            raise QmpError(str(exc)) from None

    def query_version(self, _args: dict[str, Any]) -> dict[str, Any]:
        major, minor, micro = (int(x) for x in __version__.split(".")[:3])
        return {"qemu": {"major": major, "minor": minor, "micro": micro}, "package": "pyuser-system-arm"}

    def query_status(self, _args: dict[str, Any]) -> dict[str, Any]:
        if self.loop.exit_status is not None:
            status = "shutdown"
        else:
            status = "paused" if self.loop.paused else "running"
        return {"status": status, "running": status == "running", "singlestep": False}

    def query_commands(self, _args: dict[str, Any]) -> list[dict[str, str]]:
        return [{"name": n} for n in ["qmp_capabilities", *self.commands]]

    def quit(self, _args: dict[str, Any]) -> dict[str, Any]:
        self.loop.shutdown(0)
        return {}

    def device_add(self, args: dict[str, Any]) -> dict[str, Any]:
        args = dict(args)
        driver = args.pop("driver")
        device_add(self.machine, driver, args)
        return {}

    def device_del(self, args: dict[str, Any]) -> dict[str, Any]:
        dev_id = args["id"]
        dev = self.machine.find(dev_id)
        path = device_del(self.machine, dev_id)
        data = {"path": path}
        if dev.id is not None:
            data = {"device": dev.id, "path": path}
        self.loop.emit("DEVICE_DELETED", data)
        return {}

    def qom_list(self, args: dict[str, Any]) -> list[dict[str, str]]:
        path = args["path"].rstrip("/") or "/"
        qom = self.machine.ctx.qom
        if path in qom:
            out = qom[path].qom_properties()
        elif path in ("/", *CONTAINERS) or any(p.startswith(path + "/") for p in qom):
            out = []
        else:
            raise QmpError(f"Device '{args['path']}' not found", "DeviceNotFound")
        prefix = "" if path == "/" else path
        seen = {o["name"] for o in out}
        if path == "/machine":
            for container in CONTAINERS:
                out.append({"name": container.rsplit("/", 1)[1], "type": "child<container>"})
                seen.add(container.rsplit("/", 1)[1])
        for p, dev in sorted(qom.items()):
            if not p.startswith(prefix + "/"):
                continue
            rest = p[len(prefix) + 1:]
            name = rest.split("/")[0]
            if name in seen:
                continue
            seen.add(name)
            kind = dev.type_name if "/" not in rest else "container"
            out.append({"name": name, "type": f"child<{kind}>"})
        return out

    def qom_get(self, args: dict[str, Any]) -> Any:
        dev = self.machine.ctx.qom.get(args["path"])
        if dev is None:
            raise QmpError(f"Device '{args['path']}' not found", "DeviceNotFound")
        prop = args["property"]
        if prop == "type":
            return dev.type_name
        if prop == "realized":
            return dev.realized
        if prop in dev.prop_values:
            return dev.prop_values[prop]
        raise QmpError(f"Property '{prop}' not found")

    def dumpdtb(self, args: dict[str, Any]) -> dict[str, Any]:
        # As QEMU 9's dumpdtb, but of the board as it is now, hot-plugged devices included.
        with open(args["filename"], "wb") as f:
            f.write(build_dtb(self.machine))
        return {}


class _Client:
    def __init__(self, server: QmpServer, conn: socket.socket) -> None:
        self.server = server
        self.conn = conn
        self.negotiated = False
        self.busy = False
        self.wlock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\r\n").encode()
        with self.wlock:
            try:
                self.conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()

    def serve(self) -> None:
        major, minor, micro = (int(x) for x in __version__.split(".")[:3])
        self.send({"QMP": {"version": {"qemu": {"major": major, "minor": minor, "micro": micro},
                                       "package": "pyuser-system-arm"}, "capabilities": []}})
        decoder = json.JSONDecoder()
        buffer = ""
        try:
            while True:
                data = self.conn.recv(65536)
                if not data:
                    break
                buffer += data.decode("utf-8", "replace")
                while True:
                    buffer = buffer.lstrip()
                    if not buffer:
                        break
                    try:
                        request, end = decoder.raw_decode(buffer)
                    except json.JSONDecodeError:
                        break  # wait for the rest of the object
                    buffer = buffer[end:]
                    self.busy = True
                    try:
                        self.handle(request)
                    finally:
                        self.busy = False
        except OSError:
            pass
        finally:
            with self.server.lock:
                if self in self.server.clients:
                    self.server.clients.remove(self)
            self.close()

    def handle(self, request: Any) -> None:
        reply: dict[str, Any]
        if not isinstance(request, dict) or not isinstance(request.get("execute"), str):
            reply = {"error": {"class": "GenericError", "desc": "QMP input must be a JSON object with 'execute'"}}
        else:
            name, args = request["execute"], request.get("arguments", {})
            try:
                if name == "qmp_capabilities":
                    QmpServer.check_arguments(name, args)
                    if self.negotiated:
                        raise QmpError("Capabilities negotiation is already complete, command ignored",
                                       "CommandNotFound")
                    self.negotiated = True
                    result: Any = {}
                elif not self.negotiated:
                    raise QmpError("Expecting capabilities negotiation with 'qmp_capabilities'", "CommandNotFound")
                else:
                    result = self.server.dispatch(name, args)
                reply = {"return": result}
            except QmpError as exc:
                reply = {"error": {"class": exc.klass, "desc": str(exc)}}
        if isinstance(request, dict) and "id" in request:
            reply["id"] = request["id"]
        self.send(reply)
