"""The serial link to a device running repcount firmware: ports, and one protocol session.

`open_port` opens what a user names as a PORT: a device path (/dev/ttyACM0, COM3),
locked for this process alone, or a pyserial URL (socket://127.0.0.1:PORT for the
emulator and the host-linux device). `Link` speaks the protocol of docs/protocol.md over
it: numbered, CRC-checked COBS frames out, every frame in checked and counted (lost,
corrupt, duplicated), HELLO/INFO to learn who the device is, mode changes confirmed, and
the credit-based replay the HIL suite streams recordings with. Capture and HIL share it,
so a loss is detected and reported the same way in both. `list_ports` names the ports
and guesses the board behind each from the USB ids of the board profiles.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import serial
import serial.tools.list_ports

from repcount.device import protocol as P
from repcount.errors import UserError
from repcount.firmware import boards

DEFAULT_BAUD = 115200


@dataclass(frozen=True)
class PortInfo:
    device: str
    usb_id: str | None  # "VID:PID" in hex, upper case
    description: str
    serial_number: str | None
    board_guess: str | None


def list_ports() -> list[PortInfo]:
    """The serial ports, each with the board its USB id suggests, so `repcount ports` can name them."""
    found = []
    for p in sorted(serial.tools.list_ports.comports(), key=lambda p: p.device):
        usb_id = f"{p.vid:04X}:{p.pid:04X}" if p.vid is not None and p.pid is not None else None
        board = boards.guess(p.vid, p.pid)
        found.append(PortInfo(p.device, usb_id, p.description or "", p.serial_number,
                              board.id if board else None))
    return found


def open_port(port: str, baud: int = DEFAULT_BAUD, timeout: float = 0.05) -> serial.SerialBase:
    """A device path or a pyserial URL, opened; a clear UserError if that fails.

    A device path is locked for this process alone (pyserial's `exclusive`, an flock on
    POSIX; Windows opens ports exclusively anyway): a second capture or HIL run on the
    same board would steal its frames and abort the first, so it is refused instead.
    URLs have no such lock: a TCP device (the emulator, host-linux) serves one client.
    """
    try:
        if "://" in port:
            return serial.serial_for_url(port, baudrate=baud, timeout=timeout)
        return serial.Serial(port, baudrate=baud, timeout=timeout, exclusive=True)
    except (serial.SerialException, ValueError, OSError) as exc:
        if "exclusively lock" in str(exc):
            raise UserError(
                f"serial port {port} is in use by another program (another `repcount capture` or "
                "`repcount hil`?); stop it first, one program at a time can talk to a board"
            ) from None
        raise UserError(
            f"cannot open serial port {port}: {exc}. List the ports with `repcount ports`; the "
            "emulator and the host-linux device are reached as socket://127.0.0.1:PORT"
        ) from None


class LinkError(UserError):
    """The device did not answer, answered nonsense, or the port went away."""


class Link:
    """One protocol session with a device: numbered frames out, checked frames in.

    `stats` counts what arrived from the device (lost, corrupt, duplicated frames);
    `bad_messages` counts intact frames whose payload did not fit their type; `errors`
    keeps the device's ERROR reports; `boots` counts BOOT frames (a device reset).
    """

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        self.name = getattr(port, "portstr", None) or str(port.port)
        self.sender = P.Sender()
        self.receiver = P.Receiver()
        self.bad_messages = 0
        self.errors: list[P.Error] = []
        self.boots = 0
        self.info: P.Info | None = None
        self._pending: deque[tuple[P.Frame, P.Message]] = deque()

    @classmethod
    def open(cls, port: str, baud: int = DEFAULT_BAUD) -> Link:
        return cls(open_port(port, baud))

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> P.LinkStats:
        return self.receiver.stats

    def send(self, type_: int, payload: bytes = b"") -> None:
        self._write(self.sender.frame(type_, payload))

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(
                f"{self.name}: the port went away while writing ({exc}); is the cable in?"
            ) from None

    def _read(self) -> bytes:
        try:
            waiting = self.port.in_waiting
            return self.port.read(max(1, min(waiting, 65536)))
        except (serial.SerialException, OSError) as exc:
            raise LinkError(
                f"{self.name}: the port went away while reading ({exc}); is the cable in?"
            ) from None

    def poll(self) -> list[tuple[P.Frame, P.Message]]:
        """Everything that arrived: what `messages` left unread, then one read (at most the
        port's timeout, 50 ms)."""
        got = list(self._pending)
        self._pending.clear()
        for frame in self.receiver.feed(self._read()):
            try:
                msg = P.decode(frame)
            except P.ProtocolError:
                self.bad_messages += 1
                continue
            if isinstance(msg, P.Error):
                self.errors.append(msg)
            if frame.type == P.BOOT and isinstance(msg, P.Info):
                self.boots += 1
                self.info = msg
            got.append((frame, msg))
        return got

    def messages(self, timeout: float) -> Iterator[tuple[P.Frame, P.Message]]:
        """Decoded messages as they arrive, until `timeout` seconds pass without a good frame.

        Stopping the iteration early loses nothing: unread messages wait for the next call.
        """
        deadline = time.monotonic() + timeout
        while True:
            while self._pending:
                deadline = time.monotonic() + timeout
                yield self._pending.popleft()
            if time.monotonic() >= deadline:
                return
            self._pending.extend(self.poll())

    def _await(self, wanted: int, timeout: float) -> P.Message:
        for frame, msg in self.messages(timeout):
            if frame.type == wanted:
                return msg
        raise LinkError(f"{self.name}: no {P.TYPE_NAMES[wanted]} from the device within {timeout:g} s")

    def hello(self, attempts: int = 5, timeout: float = 0.5) -> P.Info:
        """Ask the device who it is; retried, because a device may miss bytes while booting."""
        self._write(b"\x00")  # ends any partial frame the device holds
        for _ in range(attempts):
            self.send(P.HELLO)
            try:
                info = self._await(P.INFO, timeout)
            except LinkError:
                continue
            assert isinstance(info, P.Info)
            if info.protocol_version != P.PROTOCOL_VERSION:
                raise LinkError(
                    f"{self.name}: the device speaks protocol version {info.protocol_version}, this "
                    f"repcount speaks {P.PROTOCOL_VERSION}: regenerate and flash its firmware"
                )
            self.info = info
            return info
        raise LinkError(
            f"{self.name}: no answer to HELLO after {attempts} tries: is the board running repcount "
            "firmware at this baud rate? (boards that print x,y,z lines need --line-mode)"
        )

    def require_model(self, model_hash: str) -> None:
        """Refuse a device whose firmware was generated from another model than `model_hash`."""
        info = self.info or self.hello()
        if info.model_hash != model_hash:
            raise LinkError(
                f"{self.name}: the firmware runs model {info.model_hash}, not {model_hash}: comparing them "
                "would be meaningless; regenerate and flash the firmware (`repcount firmware`) or pick "
                "the model it was built from"
            )

    def set_mode(self, mode: int, timeout: float = 1.0) -> None:
        self.send(P.MODE, bytes([mode]))
        for frame, msg in self.messages(timeout):
            if isinstance(msg, P.Mode) and frame.type == P.MODE:
                if msg.mode != mode:
                    detail = f": {self.errors[-1].describe()}" if self.errors else ""
                    raise LinkError(
                        f"{self.name}: the device stayed in {P.MODE_NAMES[msg.mode]} mode instead of "
                        f"{P.MODE_NAMES[mode]}{detail}"
                    )
                return
        raise LinkError(f"{self.name}: the device did not confirm {P.MODE_NAMES[mode]} mode")

    def device_stats(self, timeout: float = 1.0) -> P.LinkStats:
        """The device's own receive counters (what it saw of the host's frames)."""
        self.send(P.STATS)
        for frame, msg in self.messages(timeout):
            if frame.type == P.STATS and isinstance(msg, P.Stats):
                return msg.stats
        raise LinkError(f"{self.name}: no STATS from the device within {timeout:g} s")

    def replay(
        self, xyz: np.ndarray, stall_timeout: float = 2.0
    ) -> Iterator[P.Output | P.CountEvent]:
        """Stream int16 samples to a device in replay mode; yield its OUTPUT and EVENT messages.

        Flow control: never more samples in flight than the device's last CREDIT allows.
        A SAMPLE GAP error (a host frame lost on the way) rewinds to the index the device
        expects; if the device makes no progress for `stall_timeout` seconds the tail is
        sent again, and after that a LinkError says where it stopped.
        """
        xyz = np.asarray(xyz, dtype=np.int16)
        info = self.info or self.hello()
        total = len(xyz)
        expected_outputs = max(0, (total - info.window) // info.hop + 1)
        self.set_mode(P.MODE_REPLAY)
        limit, sent, consumed, outputs = 0, 0, 0, 0
        last_progress = time.monotonic()
        resent = False
        rewound_to = -1
        while consumed < total or outputs < expected_outputs:
            while sent < min(limit, total):
                n = min(P.MAX_SAMPLES_PER_FRAME, limit - sent, total - sent)
                self.send(P.SAMPLES, P.encode_samples(sent, xyz[sent : sent + n]))
                sent += n
            progressed = False
            for frame, msg in self.messages(0.02):
                if isinstance(msg, P.Credit):
                    consumed = max(consumed, msg.limit - info.replay_capacity)
                    progressed = msg.limit > limit or progressed
                    limit = max(limit, msg.limit)
                elif isinstance(msg, P.Error) and msg.code == P.ERR_SAMPLE_GAP:
                    # Rewind once per gap: the frames already in flight behind the lost one
                    # are refused with the same expected index (arg0), and refused repeats
                    # of what the device has (arg1 < arg0) need nothing.
                    if msg.arg1 > msg.arg0 != rewound_to:
                        sent = rewound_to = min(sent, msg.arg0)
                elif isinstance(msg, P.Error):
                    raise LinkError(f"{self.name}: the device reported {msg.describe()}")
                elif isinstance(msg, P.Output):
                    outputs += 1
                    progressed = True
                    yield msg
                elif isinstance(msg, P.CountEvent):
                    yield msg
                elif frame.type == P.BOOT:
                    raise LinkError(f"{self.name}: the device restarted during the replay")
                if frame.type in (P.CREDIT, P.ERROR):
                    break
            if progressed:
                last_progress = time.monotonic()
                resent = False
            elif time.monotonic() - last_progress > stall_timeout:
                if resent:
                    raise LinkError(
                        f"{self.name}: the replay stalled at sample {consumed} of {total} "
                        f"({outputs} of {expected_outputs} outputs)"
                    )
                sent = rewound_to = consumed
                resent, last_progress = True, time.monotonic()
        self.set_mode(P.MODE_IDLE)

