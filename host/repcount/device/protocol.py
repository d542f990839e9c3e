"""The repcount serial protocol, host side: COBS frames with a sequence number and a CRC-32.

docs/protocol.md is the specification; the firmware's C twin is
firmware_templates/core/rc_protocol.{h,c}, whose numbers (message types, modes, error
codes, limits, INFO's layout) are rendered from the tables here into rc_protocol_defs.h,
and tests/vectors/protocol.json holds the golden frames both must agree on byte for byte.

Two layers, kept apart so each can be tested alone:
- framing (`encode_frame`, `Receiver`): bytes <-> (type, seq, payload). The receiver never
  raises on bad input: it counts each kind of damage in `LinkStats` and resynchronises at
  the next 0x00 delimiter;
- messages (`Info`, `Samples`, ... with `encode_*`/`decode`): payload layouts. A payload
  that does not fit its type raises `ProtocolError`, which the link counts as a bad
  message.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 240
HEADER_BYTES = 3  # type u8, seq u16
CRC_BYTES = 4
MAX_FRAME = HEADER_BYTES + MAX_PAYLOAD + CRC_BYTES
# COBS adds one code byte per started run of 254 data bytes: 1 for frames up to 254 bytes.
MAX_ENCODED = MAX_FRAME + 1
MAX_SAMPLES_PER_FRAME = (MAX_PAYLOAD - 4) // 6
INFO_STR_MAX = 63  # board, firmware version, engine in INFO: longer strings are cut


@dataclass(frozen=True)
class Code:
    """One named number of the protocol. The tables below are its one definition: the
    Python names are unpacked from them and the firmware's rc_protocol_defs.h is rendered
    from them (RC_MSG_name, RC_MODE_name, RC_ERR_name), so the twins cannot drift."""

    name: str
    value: int
    doc: str  # what it means (for errors: what `Error.describe` prints)
    args: str = ""  # errors: what arg0 and arg1 hold


# Message types (docs/protocol.md, "Messages").
MESSAGE_TYPES = (
    Code("HELLO", 0x01, "host: who are you? (empty); starts a new host sequence"),
    Code("INFO", 0x02, "device: answer to HELLO (rc_info_t)"),
    Code("BOOT", 0x03, "device: INFO sent unasked at start-up; starts a new sequence"),
    Code("MODE", 0x04, "host: switch mode (u8); device: echo of the mode entered"),
    Code("SAMPLES", 0x05, "first index u32, n x int16[3]: capture (device) or replay (host)"),
    Code("CREDIT", 0x06, "device, replay: the host may send samples with index < limit u32"),
    Code("OUTPUT", 0x07, "device: inference index u32, int8[output_len]"),
    Code("EVENT", 0x08, "device: step index u32, total count u32"),
    Code("COUNT", 0x09, "device, run mode: total count u32, sample index u32"),
    Code("STATS", 0x0A, "host: request (empty); device: its receive counters and IMU overruns, 7 x u32"),
    Code("ERROR", 0x0B, "device: code u16, arg0 u32, arg1 u32, ASCII text"),
)
(HELLO, INFO, BOOT, MODE, SAMPLES, CREDIT, OUTPUT, EVENT, COUNT, STATS, ERROR) = (
    c.value for c in MESSAGE_TYPES)
TYPE_NAMES = {c.value: c.name for c in MESSAGE_TYPES}
# Frames of these types start a new sequence: the receiver does not check them for a gap.
SESSION_STARTS = (HELLO, BOOT)

MODES = (
    Code("IDLE", 0, "idle"),
    Code("CAPTURE", 1, "capture"),
    Code("REPLAY", 2, "replay"),
    Code("RUN", 3, "run"),
)
MODE_IDLE, MODE_CAPTURE, MODE_REPLAY, MODE_RUN = (c.value for c in MODES)
MODE_NAMES = {c.value: c.doc for c in MODES}

# ERROR codes.
ERROR_CODES = (
    Code("UNKNOWN_TYPE", 1, "unknown message type"),
    Code("BAD_LENGTH", 2, "bad payload length"),
    Code("BAD_MODE", 3, "bad mode"),
    Code("ENGINE_INIT", 4, "engine init failed", "engine-specific numbers (e.g. arena needed, had)"),
    Code("ENGINE_INVOKE", 5, "engine invoke failed"),
    Code("SAMPLE_GAP", 6, "sample index gap", "the index expected, the index received"),
    Code("CREDIT_OVERRUN", 7, "samples beyond the granted credit",
         "the granted limit, the end of the samples sent"),
    Code("NOT_REPLAYING", 8, "samples received outside replay mode"),
    Code("IMU", 9, "IMU read failed or ended"),
)
(ERR_UNKNOWN_TYPE, ERR_BAD_LENGTH, ERR_BAD_MODE, ERR_ENGINE_INIT, ERR_ENGINE_INVOKE, ERR_SAMPLE_GAP,
 ERR_CREDIT_OVERRUN, ERR_NOT_REPLAYING, ERR_IMU) = (c.value for c in ERROR_CODES)
ERROR_NAMES = {c.value: c.doc for c in ERROR_CODES}

# INFO's fixed part, in order (struct codes, little-endian, no padding); the board, the
# firmware version and the engine follow as length-prefixed ASCII strings.
INFO_FIELDS = (
    ("protocol_version", "B"), ("sample_rate_mhz", "I"), ("full_scale_g", "B"), ("window", "H"),
    ("hop", "H"), ("output_len", "H"), ("threshold", "b"), ("refractory", "H"), ("take_start", "H"),
    ("take_count", "H"), ("out_stride", "H"), ("replay_capacity", "H"), ("model_hash", "8s"),
)
INFO_STRINGS = ("board", "firmware_version", "engine")


def info_offsets() -> dict[str, int]:
    """Byte offset of each fixed INFO field (what the firmware's rc_payload_info writes at)."""
    offsets, at = {}, 0
    for name, code in INFO_FIELDS:
        offsets[name] = at
        at += struct.calcsize("<" + code)
    return offsets


class ProtocolError(ValueError):
    """A frame arrived intact but its payload does not fit its message type."""


# ---------------------------------------------------------------- framing


def crc32(data: bytes) -> int:
    """CRC-32 of IEEE 802.3 (reflected, poly 0xEDB88320, init and final xor 0xFFFFFFFF)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """Consistent overhead byte stuffing: the output holds no 0x00 (the frame delimiter)."""
    out = bytearray()
    block = bytearray()
    after_full_run = False  # a run of 254 non-zero bytes implies no zero after it
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
            after_full_run = False
        else:
            block.append(b)
            after_full_run = False
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
                after_full_run = True
    if block or not after_full_run:
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes | None:
    """Inverse of `cobs_encode`; None if `data` is not valid COBS (a zero or a run past the end)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0 or i + code > n:
            return None
        run = data[i + 1 : i + code]
        if 0 in run:
            return None
        out += run
        i += code
        if code < 255 and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(type_: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame on the wire: COBS(type | seq | payload | crc32) followed by 0x00."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_PAYLOAD ({MAX_PAYLOAD})")
    body = struct.pack("<BH", type_, seq & 0xFFFF) + bytes(payload)
    return cobs_encode(body + struct.pack("<I", crc32(body))) + b"\x00"


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, f"0x{self.type:02x}")


@dataclass
class LinkStats:
    """What one receiver saw; the C twin keeps the same counters (and reports them in STATS)."""

    frames_ok: int = 0
    crc_errors: int = 0
    cobs_errors: int = 0
    overlong: int = 0
    lost: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class DeviceStats(LinkStats):
    """A device's STATS: its receiver's counters, then the IMU samples it lost before its app
    could take them (its sample queue or its IMU's FIFO was full) since the current or last
    capture or run began: that many samples short of the time the stream spans."""

    imu_overruns: int = 0


class Receiver:
    """Turns a byte stream into good frames; damage is counted, never raised.

    - over-long: more than MAX_ENCODED bytes before a delimiter; the rest is skipped;
    - cobs_errors: invalid COBS, or fewer bytes than a header and a CRC;
    - crc_errors: the CRC-32 does not match;
    - duplicates: the same seq as the previous good frame (dropped);
    - lost: frames missing between two good frames (the gap of their seq numbers).
    An empty frame (two 0x00 in a row) is padding, not an error.
    """

    def __init__(self) -> None:
        self.stats = LinkStats()
        self._buf = bytearray()
        self._overflow = False
        self._prev_seq: int | None = None

    def feed(self, data: bytes) -> Iterator[Frame]:
        for b in data:
            if b != 0:
                if len(self._buf) < MAX_ENCODED:
                    self._buf.append(b)
                else:
                    self._overflow = True
                continue
            frame = self._end_of_frame()
            if frame is not None:
                yield frame

    def _end_of_frame(self) -> Frame | None:
        encoded, overflow = bytes(self._buf), self._overflow
        self._buf.clear()
        self._overflow = False
        if overflow:
            self.stats.overlong += 1
            return None
        if not encoded:
            return None
        body = cobs_decode(encoded)
        if body is None or len(body) < HEADER_BYTES + CRC_BYTES:
            self.stats.cobs_errors += 1
            return None
        (crc,) = struct.unpack_from("<I", body, len(body) - CRC_BYTES)
        if crc32(body[:-CRC_BYTES]) != crc:
            self.stats.crc_errors += 1
            return None
        type_, seq = struct.unpack_from("<BH", body)
        if type_ not in SESSION_STARTS and self._prev_seq is not None:
            gap = (seq - self._prev_seq - 1) & 0xFFFF
            if gap == 0xFFFF:
                self.stats.duplicates += 1
                return None
            self.stats.lost += gap
        self._prev_seq = seq
        self.stats.frames_ok += 1
        return Frame(type_, seq, body[HEADER_BYTES:-CRC_BYTES])


class Sender:
    """Numbers outgoing frames: +1 per frame from 0, wrapping at 2^16."""

    def __init__(self) -> None:
        self.seq = 0

    def frame(self, type_: int, payload: bytes = b"") -> bytes:
        out = encode_frame(type_, self.seq, payload)
        self.seq = (self.seq + 1) & 0xFFFF
        return out


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class Info:
    """What a device says about itself (INFO, and BOOT when it starts up)."""

    protocol_version: int
    sample_rate_mhz: int  # millihertz: integers only on the device
    full_scale_g: int
    window: int
    hop: int
    output_len: int
    threshold: int
    refractory: int
    take_start: int
    take_count: int
    out_stride: int
    replay_capacity: int
    model_hash: str  # 16 hex digits
    board: str
    firmware_version: str
    engine: str

    @property
    def sample_rate_hz(self) -> float:
        return self.sample_rate_mhz / 1000.0


_INFO_FIXED = struct.Struct("<" + "".join(code for _, code in INFO_FIELDS))


@dataclass(frozen=True)
class Mode:
    mode: int


@dataclass(frozen=True)
class Samples:
    first: int
    xyz: np.ndarray = field(compare=False)  # (n, 3) int16 raw IMU counts

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Samples)
            and self.first == other.first
            and np.array_equal(self.xyz, other.xyz)
        )


@dataclass(frozen=True)
class Credit:
    limit: int  # the host may send samples with index < limit


@dataclass(frozen=True)
class Output:
    inference: int
    values: tuple[int, ...]


@dataclass(frozen=True)
class CountEvent:
    step: int
    total: int


@dataclass(frozen=True)
class Count:
    total: int
    sample: int


@dataclass(frozen=True)
class Stats:
    stats: DeviceStats


@dataclass(frozen=True)
class Error:
    code: int
    arg0: int
    arg1: int
    text: str

    def describe(self) -> str:
        name = ERROR_NAMES.get(self.code, f"error {self.code}")
        return f"{name} ({self.arg0}, {self.arg1}): {self.text}" if self.text else f"{name}"


Message = Info | Mode | Samples | Credit | Output | CountEvent | Count | Stats | Error | None


def _str8(s: str) -> bytes:
    """A length-prefixed ASCII string of INFO, cut to what the device's fixed fields hold."""
    raw = s.encode("ascii", "replace")[:INFO_STR_MAX]
    return bytes([len(raw)]) + raw


def encode_info(info: Info) -> bytes:
    """INFO's payload, as the firmware sends it: the golden vectors and the tests' devices use it."""
    return (
        _INFO_FIXED.pack(
            info.protocol_version, info.sample_rate_mhz, info.full_scale_g, info.window, info.hop,
            info.output_len, info.threshold, info.refractory, info.take_start, info.take_count,
            info.out_stride, info.replay_capacity, bytes.fromhex(info.model_hash),
        )
        + _str8(info.board) + _str8(info.firmware_version) + _str8(info.engine)
    )


def encode_samples(first: int, xyz: np.ndarray) -> bytes:
    """SAMPLES: the index of the first sample (the device detects gaps by it), then int16 x y z."""
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or not 1 <= len(xyz) <= MAX_SAMPLES_PER_FRAME:
        raise ValueError(f"SAMPLES holds 1..{MAX_SAMPLES_PER_FRAME} samples of 3 axes, got {xyz.shape}")
    return struct.pack("<I", first) + xyz.astype("<i2").tobytes()


def encode_stats(s: DeviceStats) -> bytes:
    """STATS: the six receive counters, in the order of the firmware's rc_link_stats_t, then
    the IMU overruns."""
    return struct.pack(
        "<7I", s.frames_ok, s.crc_errors, s.cobs_errors, s.overlong, s.lost, s.duplicates,
        s.imu_overruns,
    )


def encode_error(code: int, arg0: int, arg1: int, text: str) -> bytes:
    """ERROR: code, two arguments (e.g. expected and received sample index) and a short text."""
    raw = text.encode("ascii", "replace")[: MAX_PAYLOAD - 10]
    return struct.pack("<HII", code, arg0 & 0xFFFFFFFF, arg1 & 0xFFFFFFFF) + raw


def encode_output(inference: int, values: tuple[int, ...] | list[int]) -> bytes:
    """OUTPUT: the inference number, then its raw int8 outputs (compared bit for bit)."""
    return struct.pack("<I", inference) + np.asarray(values, dtype=np.int8).tobytes()


def decode(frame: Frame) -> Message:
    """The message a good frame carries; ProtocolError if the payload does not fit its type."""
    p, t = frame.payload, frame.type
    try:
        if t in (HELLO,) and not p:
            return None
        if t == STATS and not p:
            return None  # a request
        if t in (INFO, BOOT):
            return _decode_info(p)
        if t == MODE and len(p) == 1 and p[0] in MODE_NAMES:
            return Mode(p[0])
        if t == SAMPLES and len(p) >= 10 and (len(p) - 4) % 6 == 0:
            xyz = np.frombuffer(p, dtype="<i2", offset=4).astype(np.int16).reshape(-1, 3)
            return Samples(struct.unpack_from("<I", p)[0], xyz)
        if t == CREDIT and len(p) == 4:
            return Credit(*struct.unpack("<I", p))
        if t == OUTPUT and len(p) >= 4:
            return Output(struct.unpack_from("<I", p)[0], tuple(np.frombuffer(p[4:], np.int8).tolist()))
        if t == EVENT and len(p) == 8:
            return CountEvent(*struct.unpack("<II", p))
        if t == COUNT and len(p) == 8:
            return Count(*struct.unpack("<II", p))
        if t == STATS and len(p) == 28:
            return Stats(DeviceStats(*struct.unpack("<7I", p)))
        if t == ERROR and len(p) >= 10:
            code, a0, a1 = struct.unpack_from("<HII", p)
            return Error(code, a0, a1, p[10:].decode("ascii", "replace"))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{frame.name} frame: {exc}") from None
    raise ProtocolError(f"{frame.name} frame with a payload of {len(p)} bytes does not fit its type")


def _decode_info(p: bytes) -> Info:
    if len(p) < _INFO_FIXED.size + 3:
        raise ProtocolError(f"INFO payload of {len(p)} bytes is shorter than {_INFO_FIXED.size + 3}")
    fixed = _INFO_FIXED.unpack_from(p)
    strings: list[str] = []
    i = _INFO_FIXED.size
    for _ in range(3):
        if i >= len(p) or i + 1 + p[i] > len(p):
            raise ProtocolError("INFO strings run past the end of the payload")
        strings.append(p[i + 1 : i + 1 + p[i]].decode("ascii", "replace"))
        i += 1 + p[i]
    if i != len(p):
        raise ProtocolError(f"INFO payload has {len(p) - i} bytes after its strings")
    return Info(*fixed[:12], fixed[12].hex(), *strings)
