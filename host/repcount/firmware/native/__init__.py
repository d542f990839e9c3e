"""The native int8 engine: per-op kernel builders (ops) and the C generator (generate).

Which builder computes which op is the op registry in ../engines.toml ([native.ops]).
"""
