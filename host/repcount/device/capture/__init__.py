"""Capture: record labelled IMU data from a board into a recording that survives any stop.

`frames` captures from repcount firmware (framed protocol), `lines` from any board that
prints `x,y,z` lines; both share the session (labels, counts, signals, status), the file
(whole lines, fsync, in-place label slots, a full disk) and the terminal (keys, prompts).
"""
