"""repcount: counters of rope jumps and steps, from recordings to verified int8 firmware."""

__version__ = "0.1.0"
