"""A repcount device written in Python, for what real firmware never sends.

The capture tests run against the host-linux firmware (tests/hostdevice.py); this one
lets a test choose the INFO (a full scale or rate of 0) and the sample numbering (a
wild index) a broken device would send.
"""

from __future__ import annotations

import socket
import threading

import numpy as np
from repcount import __version__
from repcount.device import protocol as P


def fake_info(rate_hz: float = 50.0, full_scale_g: int = 8, board: str = "fake") -> P.Info:
    """An INFO as a device would send it, with the fields a test wants wrong."""
    return P.Info(protocol_version=P.PROTOCOL_VERSION, sample_rate_mhz=round(rate_hz * 1000),
                  full_scale_g=full_scale_g, window=20, hop=5, output_len=5, threshold=64, refractory=3,
                  take_start=0, take_count=5, out_stride=1, replay_capacity=64,
                  model_hash="0123456789abcdef", board=board, firmware_version=__version__, engine="none")


class FakeDevice:
    """A repcount device written in Python on a TCP socket, for what real firmware never sends.

    It answers HELLO with `info`, confirms MODE, and in capture mode streams one SAMPLES
    frame of 10 samples for each index in `firsts` (sample i of the stream is (i, -i, 1)
    counts), then ERROR IMU as the host-linux device does when its file ends.
    """

    def __init__(self, info: P.Info, firsts: list[int]) -> None:
        self.info, self.firsts = info, firsts
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        conn.settimeout(0.02)
        sender, receiver = P.Sender(), P.Receiver()
        streamed = 0
        capturing = False
        with conn:
            while not self.stop:
                try:
                    data = conn.recv(4096)
                    if not data:
                        return
                except TimeoutError:
                    data = b""
                except OSError:
                    return
                for frame in receiver.feed(data):
                    if frame.type == P.HELLO:
                        conn.sendall(sender.frame(P.INFO, P.encode_info(self.info)))
                    elif frame.type == P.MODE:
                        capturing = frame.payload[0] == P.MODE_CAPTURE
                        conn.sendall(sender.frame(P.MODE, frame.payload))
                if capturing and streamed < len(self.firsts):
                    first = self.firsts[streamed]
                    k = np.arange(streamed * 10, streamed * 10 + 10)
                    xyz = np.stack([k, -k, np.ones_like(k)], axis=1)
                    conn.sendall(sender.frame(P.SAMPLES, P.encode_samples(first, xyz)))
                    streamed += 1
                    if streamed == len(self.firsts):
                        conn.sendall(sender.frame(P.ERROR, P.encode_error(P.ERR_IMU, 2, streamed * 10,
                                                                          "IMU read failed or ended")))

    def close(self) -> None:
        self.stop = True
        self.server.close()
