"""The native int8 engine: its op registry and the generator of its C kernels."""
