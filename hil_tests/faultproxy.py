"""A TCP proxy between the host and the emulator's UART that damages the byte stream on purpose.

It stands for a bad cable, a noisy level shifter or an overrun UART: in each direction it can
corrupt (xor 0x5A) or drop chosen bytes, by their position in the stream, so a test knows
exactly what it broke. When the emulator behind it goes away (a device reset, the emulator
restarted under the run) it connects again and keeps the host's side open, as a USB-serial
bridge does when the board behind it resets; the host's bytes of the first `boot_s` seconds
after that are lost, as they are while a board boots (and the emulated UART stalls on bytes
that arrive before the firmware enables its receiver).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

CORRUPT_XOR = 0x5A


@dataclass
class Faults:
    """Bytes to damage in one direction: `corrupt` and `drop` hold stream positions (from 0);
    `corrupt_every` damages every n-th byte on top."""

    corrupt: set[int] = field(default_factory=set)
    drop: set[int] = field(default_factory=set)
    corrupt_every: int = 0
    passed: int = 0  # bytes seen so far
    damaged: int = 0

    def apply(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            i = self.passed
            self.passed += 1
            if i in self.drop:
                self.damaged += 1
                continue
            if i in self.corrupt or (self.corrupt_every and i % self.corrupt_every == self.corrupt_every - 1):
                self.damaged += 1
                b ^= CORRUPT_XOR
            out.append(b)
        return bytes(out)


class FaultProxy:
    """Listens on a free local port (`url`) and forwards to 127.0.0.1:`upstream_port`."""

    def __init__(self, upstream_port: int, to_device: Faults | None = None, to_host: Faults | None = None,
                 boot_s: float = 0.5) -> None:  # fmt: skip
        self.upstream_port = upstream_port
        self.boot_s = boot_s
        self._booted_at = 0.0
        self.to_device = to_device or Faults()
        self.to_host = to_host or Faults()
        self.reconnects = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._client: socket.socket | None = None
        self._upstream: socket.socket | None = None
        self._threads = [threading.Thread(target=self._serve, daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        for s in (self._client, self._upstream, self._listener):
            if s is not None:
                s.close()
        for t in self._threads:
            t.join(timeout=2)

    def _connect_upstream(self) -> None:
        while not self._stop.is_set():
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=0.5)
            except OSError:
                time.sleep(0.02)
                continue
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up.settimeout(0.1)
            self._upstream = up
            self._booted_at = time.monotonic() + self.boot_s
            return

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
                break
            except (TimeoutError, OSError):
                continue
        else:
            return
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.settimeout(0.1)
        self._client = client
        self._connect_upstream()
        self._booted_at = 0.0  # the first connection finds the device running
        down = threading.Thread(target=self._pump_to_device, daemon=True)
        self._threads.append(down)
        down.start()
        self._pump_to_host()

    def _pump_to_device(self) -> None:
        assert self._client is not None
        while not self._stop.is_set():
            try:
                data = self._client.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            data = self.to_device.apply(data)
            try:
                if self._upstream is not None and time.monotonic() >= self._booted_at:
                    self._upstream.sendall(data)
            except OSError:
                pass  # the device is restarting: its bytes are lost, as on a real reset

    def _pump_to_host(self) -> None:
        assert self._client is not None
        while not self._stop.is_set():
            up = self._upstream
            try:
                data = up.recv(4096) if up is not None else b""
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:
                if self._stop.is_set():
                    return
                if up is not None:
                    up.close()
                self._upstream = None
                self._connect_upstream()
                self.reconnects += 1
                continue
            try:
                self._client.sendall(self.to_host.apply(data))
            except OSError:
                return
