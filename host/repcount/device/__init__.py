"""Talking to a device: the serial protocol and link, capture, the emulated board, HIL."""
