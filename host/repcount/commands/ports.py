"""List serial ports with their USB ids and a guess of the board behind each.

A PORT, wherever repcount asks for one (capture, hil), is a device path or a pyserial URL:
  /dev/ttyACM0, /dev/ttyUSB0, COM3     a board on USB
  socket://127.0.0.1:4321               the emulator's UART, or the host-linux device
  loop://                               a loopback, for trying things out

The guess comes from the `usb_ids` of the board profiles (host/repcount/firmware/boards/*.toml):
a port whose VID:PID matches a profile names that board; other USB serial adapters show
"unknown". Boards running repcount firmware also say who they are when asked (HELLO/INFO),
which `repcount capture` does before it records.

Examples:
  repcount ports
  repcount ports --json
"""

from __future__ import annotations

import argparse
import json

from repcount.device.link import list_ports


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    ports = list_ports()
    if args.json:
        print(json.dumps({"ports": [p.__dict__ for p in ports]}, indent=2))
        return 0
    if not ports:
        print("no serial ports found (plug the board in; the emulator is reached as socket://127.0.0.1:PORT)")
        return 0
    width = max(len(p.device) for p in ports)
    for p in ports:
        guess = p.board_guess or ("unknown board" if p.usb_id else "not USB")
        print(f"{p.device:<{width}}  {p.usb_id or '-':<9}  {guess:<22}  {p.description}")
    return 0
