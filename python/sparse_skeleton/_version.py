"""The package version and the C ABI version it speaks (SK_ABI_VERSION of sparse_skeleton.h)."""
__version__ = "0.3.0"
ABI_VERSION = 3
