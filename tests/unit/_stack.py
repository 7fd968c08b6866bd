"""Read the calling thread's real stack size from the C library (Linux/glibc)."""

from __future__ import annotations

import ctypes

_libc = ctypes.CDLL(None)
_libc.pthread_self.restype = ctypes.c_ulong


def current_stack_size() -> int:
    """Bytes of stack the OS gave the calling thread (pthread_getattr_np)."""
    attr = ctypes.create_string_buffer(256)  # >= sizeof(pthread_attr_t)
    if _libc.pthread_getattr_np(ctypes.c_ulong(_libc.pthread_self()), attr) != 0:
        raise OSError("pthread_getattr_np failed")
    try:
        addr = ctypes.c_void_p()
        size = ctypes.c_size_t()
        if _libc.pthread_attr_getstack(attr, ctypes.byref(addr), ctypes.byref(size)) != 0:
            raise OSError("pthread_attr_getstack failed")
        return size.value
    finally:
        _libc.pthread_attr_destroy(attr)
