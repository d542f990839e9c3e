"""Recordings and where they come from: the file format, importers of other people's data, the simulator."""
