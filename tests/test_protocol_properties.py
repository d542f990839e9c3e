"""Property-based tests of the frame parser's Python twin (hypothesis).

The receiver is what stands between a noisy serial line and a recording or a HIL verdict,
so four promises are checked over many generated streams (docs/protocol.md, "Framing"):
- round trip: any frame encoded and fed back is the same frame, however the bytes are
  concatenated, cut into reads, or preceded by line noise;
- any bytes at all are taken without an exception, and every frame delivered carries a
  correct CRC-32 (a frame from noise would be a made-up sample or verdict);
- a single flipped bit in a frame is never delivered as another frame: it is counted as
  damage (or, when it turns into a delimiter, splits the frame into counted pieces);
- a frame repeated with the same sequence number is dropped and counted as a duplicate.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repcount.device import protocol as P

# No example database: a run leaves no .hypothesis folder in the work tree.
SETTINGS = settings(max_examples=80, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Types that are checked for sequence gaps (HELLO and BOOT start a new sequence).
SEQUENCED = [t for t in P.TYPE_NAMES if t not in P.SESSION_STARTS]

frames = st.builds(
    P.Frame,
    type=st.integers(0, 255),
    seq=st.integers(0, 0xFFFF),
    payload=st.binary(max_size=P.MAX_PAYLOAD),
)


@st.composite
def sequenced_frames(draw: st.DrawFn) -> list[P.Frame]:
    """Frames numbered as a Sender numbers them (from any start, wrapping at 2^16)."""
    start = draw(st.integers(0, 0xFFFF))
    n = draw(st.integers(1, 8))
    return [
        P.Frame(draw(st.sampled_from(SEQUENCED)), (start + i) & 0xFFFF,
                draw(st.binary(max_size=P.MAX_PAYLOAD)))
        for i in range(n)
    ]


def wire(sent: list[P.Frame]) -> bytes:
    return b"".join(P.encode_frame(f.type, f.seq, f.payload) for f in sent)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given positions, as reads of a serial port would deliver it."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def receive(chunks: list[bytes]) -> tuple[list[P.Frame], P.LinkStats]:
    rx = P.Receiver()
    out = [f for chunk in chunks for f in rx.feed(chunk)]
    return out, rx.stats


def intact_frames(stream: bytes) -> list[P.Frame]:
    """A reference reading of `stream`: every complete, short enough piece between 0x00
    delimiters whose COBS decodes and whose last four bytes are the CRC-32 of the rest."""
    out = []
    for piece in stream.split(b"\x00")[:-1]:
        body = P.cobs_decode(piece) if 0 < len(piece) <= P.MAX_ENCODED else None
        if body is None or len(body) < P.HEADER_BYTES + P.CRC_BYTES:
            continue
        if P.crc32(body[:-P.CRC_BYTES]) == struct.unpack("<I", body[-P.CRC_BYTES:])[0]:
            out.append(P.Frame(body[0], struct.unpack_from("<H", body, 1)[0],
                               body[P.HEADER_BYTES:-P.CRC_BYTES]))
    return out


@SETTINGS
@given(frame=frames)
def test_one_frame_round_trips(frame: P.Frame) -> None:
    encoded = P.encode_frame(frame.type, frame.seq, frame.payload)
    assert 0 not in encoded[:-1] and encoded[-1] == 0
    assert len(encoded) <= P.MAX_ENCODED + 1
    got, stats = receive([encoded])
    assert got == [frame]
    assert stats.frames_ok == 1


@SETTINGS
@given(sent=sequenced_frames(), cuts=st.lists(st.integers(0, 10_000), max_size=12),
       noise=st.binary(max_size=300))
def test_concatenated_split_and_after_noise_round_trip(
        sent: list[P.Frame], cuts: list[int], noise: bytes) -> None:
    # Noise ends at a delimiter, as a receiver joining a line mid-frame resynchronises at
    # the next 0x00; the frames after it must all arrive, in order, whatever the reads.
    got, stats = receive(split(noise + b"\x00" + wire(sent), cuts))
    assert got == intact_frames(noise + b"\x00") + sent
    assert stats.lost == 0


@SETTINGS
@given(sent=sequenced_frames(), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_clean_stream_delivers_everything_and_counts_nothing(
        sent: list[P.Frame], cuts: list[int]) -> None:
    got, stats = receive(split(wire(sent), cuts))
    assert got == sent
    assert stats == P.LinkStats(frames_ok=len(sent))


@SETTINGS
@given(pieces=st.lists(st.one_of(st.binary(max_size=300), frames.map(
           lambda f: P.encode_frame(f.type, f.seq, f.payload))), max_size=10),
       cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_garbage_never_raises_and_never_yields_a_bad_crc(pieces: list[bytes], cuts: list[int]) -> None:
    # Noise mixed with real frames (some of which the noise runs into), so that both
    # damaged and intact pieces reach the CRC check.
    garbage = b"".join(pieces)
    got, stats = receive(split(garbage, cuts))
    intact = intact_frames(garbage)
    # Every frame delivered is one the reference reading found intact (its CRC matches);
    # the others of those were dropped as duplicates, and nothing else was delivered.
    assert all(f in intact for f in got)
    assert len(got) + stats.duplicates == len(intact)
    assert stats.frames_ok == len(got)
    for frame in got:
        try:
            P.decode(frame)
        except P.ProtocolError:
            pass  # an intact frame whose payload does not fit its type: the link counts it


@SETTINGS
@given(garbage=st.binary(min_size=1, max_size=400))
def test_garbage_between_delimiters_is_only_delivered_with_a_matching_crc(garbage: bytes) -> None:
    # Noise framed by delimiters reaches the CRC check; whatever comes out must be a body
    # whose last four bytes are its CRC-32 (the property the firmware's twin relies on).
    chunk = garbage.replace(b"\x00", b"")
    got, stats = receive([b"\x00" + chunk + b"\x00"])
    body = P.cobs_decode(chunk) if chunk else None
    if got:
        assert body is not None
        assert P.crc32(body[:-P.CRC_BYTES]) == struct.unpack("<I", body[-P.CRC_BYTES:])[0]
        assert got == [P.Frame(body[0], struct.unpack_from("<H", body, 1)[0],
                               body[P.HEADER_BYTES:-P.CRC_BYTES])]
    elif chunk:
        assert stats.crc_errors + stats.cobs_errors + stats.overlong == 1


@SETTINGS
@given(frame=frames, data=st.data())
def test_a_single_bit_flip_is_never_accepted_as_another_frame(frame: P.Frame, data: st.DataObject) -> None:
    encoded = bytearray(P.encode_frame(frame.type, frame.seq, frame.payload))
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    encoded[bit // 8] ^= 1 << (bit % 8)
    # A good frame after it shows the receiver resynchronised (the flip may remove the
    # final delimiter, and then the damage runs into the next frame: both are lost).
    follower = P.Frame(P.SAMPLES, (frame.seq + 7) & 0xFFFF, b"after")
    got, stats = receive([b"\x00" + bytes(encoded) + b"\x00" + wire([follower])])
    assert frame not in got
    assert all(f == follower for f in got)
    damage = stats.crc_errors + stats.cobs_errors + stats.overlong
    assert damage >= 1
    assert stats.frames_ok == len(got)


@SETTINGS
@given(sent=sequenced_frames(), at=st.integers(0, 7), times=st.integers(1, 3),
       cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_duplicated_frames_are_dropped_and_counted(
        sent: list[P.Frame], at: int, times: int, cuts: list[int]) -> None:
    i = at % len(sent)
    stream = wire(sent[: i + 1]) + wire([sent[i]]) * times + wire(sent[i + 1:])
    got, stats = receive(split(stream, cuts))
    assert got == sent
    assert stats.duplicates == times
    assert stats.lost == 0
    assert stats.frames_ok == len(sent)


@SETTINGS
@given(sent=sequenced_frames(), drop=st.integers(0, 7))
def test_a_missing_frame_is_counted_as_lost(sent: list[P.Frame], drop: int) -> None:
    if len(sent) < 3:
        return
    i = 1 + drop % (len(sent) - 2)  # neither the first nor the last: a gap between two
    got, stats = receive([wire(sent[:i] + sent[i + 1:])])
    assert got == sent[:i] + sent[i + 1:]
    assert stats.lost == 1
    assert stats.duplicates == 0
