"""Firmware generation: board profiles, engines, the native C engine's generator, size measurement."""
