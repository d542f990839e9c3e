"""The Python side of the serial protocol against the golden vectors, plus fuzzing.

tests/vectors/protocol.json is the contract shared with the C implementation
(tests/test_protocol_c.py checks the same file): if either side changes a byte, one of
the two suites fails.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from repcount.device import protocol as P

VECTORS = json.loads((Path(__file__).parent / "vectors" / "protocol.json").read_text())


def test_limits_match_the_vectors() -> None:
    assert VECTORS["max_payload"] == P.MAX_PAYLOAD
    assert VECTORS["max_encoded"] == P.MAX_ENCODED
    assert VECTORS["protocol_version"] == P.PROTOCOL_VERSION


@pytest.mark.parametrize("case", VECTORS["cobs"], ids=lambda c: c["decoded"][:12] or "empty")
def test_cobs(case: dict) -> None:
    decoded, encoded = bytes.fromhex(case["decoded"]), bytes.fromhex(case["encoded"])
    assert P.cobs_encode(decoded) == encoded
    assert P.cobs_decode(encoded) == decoded
    assert 0 not in encoded


@pytest.mark.parametrize("case", VECTORS["crc32"], ids=lambda c: c["data"][:12] or "empty")
def test_crc32(case: dict) -> None:
    assert P.crc32(bytes.fromhex(case["data"])) == case["crc"]


def test_crc32_check_value() -> None:
    # The catalogue check value of CRC-32/ISO-HDLC (IEEE 802.3): "123456789" -> 0xCBF43926.
    assert P.crc32(b"123456789") == 0xCBF43926


def _message_as_json(msg: P.Message) -> dict | None:
    if msg is None:
        return {}
    if isinstance(msg, P.Samples):
        return {"first": msg.first, "xyz": msg.xyz.tolist()}
    if isinstance(msg, P.Stats):
        return {"stats": msg.stats.as_dict()}
    if isinstance(msg, P.Output):
        return {"inference": msg.inference, "values": list(msg.values)}
    return dict(msg.__dict__)


@pytest.mark.parametrize("case", VECTORS["frames"], ids=lambda c: c["name"])
def test_frame_vectors(case: dict) -> None:
    payload, wire = bytes.fromhex(case["payload"]), bytes.fromhex(case["wire"])
    assert P.encode_frame(case["type"], case["seq"], payload) == wire
    rx = P.Receiver()
    frames = list(rx.feed(wire))
    assert frames == [P.Frame(case["type"], case["seq"], payload)]
    if case["message"] is not None:
        assert _message_as_json(P.decode(frames[0])) == case["message"]


def test_message_encoders_give_the_vector_payloads() -> None:
    by_name = {c["name"]: c for c in VECTORS["frames"]}
    info = P.Info(**by_name["info"]["message"])
    assert P.encode_info(info).hex() == by_name["info"]["payload"]
    s = by_name["samples"]["message"]
    assert P.encode_samples(s["first"], np.array(s["xyz"])).hex() == by_name["samples"]["payload"]
    o = by_name["output"]["message"]
    assert P.encode_output(o["inference"], o["values"]).hex() == by_name["output"]["payload"]
    st = P.DeviceStats(**by_name["stats"]["message"]["stats"])
    assert P.encode_stats(st).hex() == by_name["stats"]["payload"]
    e = by_name["error engine"]["message"]
    error = P.encode_error(e["code"], e["arg0"], e["arg1"], e["text"])
    assert error.hex() == by_name["error engine"]["payload"]


@pytest.mark.parametrize("case", VECTORS["streams"], ids=lambda c: c["name"])
@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
def test_stream_vectors(case: dict, chunking: str) -> None:
    wire = bytes.fromhex(case["wire"])
    rx = P.Receiver()
    if chunking == "whole":
        frames = list(rx.feed(wire))
    else:
        frames = [f for i in range(len(wire)) for f in rx.feed(wire[i : i + 1])]
    assert [{"type": f.type, "seq": f.seq, "payload": f.payload.hex()} for f in frames] == case["frames"]
    assert rx.stats.as_dict() == case["stats"]


def test_sender_numbers_frames_and_wraps() -> None:
    tx = P.Sender()
    tx.seq = 65535
    rx = P.Receiver()
    frames = list(rx.feed(tx.frame(P.EVENT, bytes(8)) + tx.frame(P.EVENT, bytes(8))))
    assert [f.seq for f in frames] == [65535, 0]
    assert rx.stats.lost == 0


def test_payload_over_the_limit_is_refused_by_the_encoder() -> None:
    with pytest.raises(ValueError, match="exceeds MAX_PAYLOAD"):
        P.encode_frame(P.OUTPUT, 0, bytes(P.MAX_PAYLOAD + 1))


def test_overlong_frame_never_grows_the_buffer() -> None:
    rx = P.Receiver()
    list(rx.feed(b"\x55" * 100_000))
    assert len(rx._buf) == P.MAX_ENCODED
    assert list(rx.feed(b"\x00" + P.encode_frame(P.HELLO, 0))) == [P.Frame(P.HELLO, 0, b"")]
    assert rx.stats.overlong == 1


@pytest.mark.parametrize(
    ("type_", "payload", "message"),
    [
        (P.SAMPLES, b"\x00" * 7, "SAMPLES frame with a payload of 7 bytes"),
        (P.SAMPLES, b"\x00" * 4, "SAMPLES frame with a payload of 4 bytes"),
        (P.MODE, b"\x09", "MODE frame with a payload of 1 bytes"),
        (P.INFO, b"\x01" * 10, "INFO payload of 10 bytes is shorter"),
        (P.HELLO, b"\x01", "HELLO frame with a payload of 1 bytes"),
        (0x55, b"", "0x55 frame"),
    ],
)
def test_payload_that_does_not_fit_its_type_is_a_protocol_error(
    type_: int, payload: bytes, message: str
) -> None:
    with pytest.raises(P.ProtocolError, match=message):
        P.decode(P.Frame(type_, 0, payload))


def test_info_with_strings_past_the_end_is_a_protocol_error() -> None:
    case = next(c for c in VECTORS["frames"] if c["name"] == "info")
    payload = bytes.fromhex(case["payload"])
    with pytest.raises(P.ProtocolError, match="run past the end"):
        P.decode(P.Frame(P.INFO, 0, payload[:-2]))
    with pytest.raises(P.ProtocolError, match="after its strings"):
        P.decode(P.Frame(P.INFO, 0, payload + b"x"))


def _random_frames(rng: random.Random, n: int) -> list[bytes]:
    tx = P.Sender()
    return [tx.frame(rng.randrange(256), rng.randbytes(rng.randrange(P.MAX_PAYLOAD + 1))) for _ in range(n)]


def test_random_frames_round_trip() -> None:
    rng = random.Random(1)
    wire = _random_frames(rng, 300)
    rx = P.Receiver()
    frames = list(rx.feed(b"".join(wire)))
    assert len(frames) == 300
    assert [P.encode_frame(f.type, f.seq, f.payload) for f in frames] == wire
    assert rx.stats == P.LinkStats(frames_ok=300)


def test_fuzz_random_and_mutated_bytes_only_ever_count_errors() -> None:
    """Garbage of any kind: no exception, counters add up, and the next clean frame gets through."""
    rng = random.Random(2)
    seed_stream = b"".join(_random_frames(rng, 50))
    for i in range(3000):
        if i % 3 == 0:
            data = rng.randbytes(rng.randrange(1, 600))
        else:
            data = bytearray(seed_stream[: rng.randrange(1, len(seed_stream))])
            for _ in range(rng.randrange(1, 8)):
                pos = rng.randrange(len(data))
                choice = rng.randrange(4)
                if choice == 0:
                    data[pos] ^= 1 << rng.randrange(8)
                elif choice == 1:
                    del data[pos : pos + rng.randrange(1, 40)]
                elif choice == 2:
                    data[pos:pos] = data[max(0, pos - 50) : pos]
                elif data:
                    data[pos] = 0
            data = bytes(data)
        rx = P.Receiver()
        frames = list(rx.feed(data))
        for f in frames:
            try:
                P.decode(f)
            except P.ProtocolError:
                pass
        assert rx.stats.frames_ok == len(frames)
        assert len(rx._buf) <= P.MAX_ENCODED
        marker = P.encode_frame(P.HELLO, 7)
        # (a frame still pending before the extra delimiter may complete, which is right)
        assert list(rx.feed(b"\x00" + marker))[-1] == P.Frame(P.HELLO, 7, b"")


def test_samples_round_trip_through_a_frame() -> None:
    xyz = np.array([[1, -2, 3]] * P.MAX_SAMPLES_PER_FRAME, dtype=np.int16)
    frame = next(P.Receiver().feed(P.encode_frame(P.SAMPLES, 0, P.encode_samples(5, xyz))))
    msg = P.decode(frame)
    assert msg == P.Samples(5, xyz)
    with pytest.raises(ValueError, match="1..39 samples"):
        P.encode_samples(0, np.zeros((40, 3)))
    assert struct.unpack_from("<I", frame.payload)[0] == 5


@pytest.mark.parametrize("type_", sorted(P.TYPE_NAMES) + [0x00, 0x7F, 0xFF])
def test_decode_random_payloads_never_raises_anything_but_protocol_error(type_: int) -> None:
    rng = random.Random(type_)
    for _ in range(400):
        payload = rng.randbytes(rng.choice([0, 1, 4, 8, 10, 24, 31, 34, rng.randrange(P.MAX_PAYLOAD + 1)]))
        try:
            P.decode(P.Frame(type_, 0, payload))
        except P.ProtocolError:
            pass
