"""How a run's process uses the host's memory allocator and OpenMP threads: settings that change its speed and
no computed bit (issue 34; docs/speed.md has the measurements). Imports no torch: sweeps.executors reads
`thread_env` to build a run's environment, in a process that has not started OpenMP.

**Allocator** (`keep_large_buffers`, called once at a run's start by core.train.loop). glibc's malloc serves an
allocation at or above its mmap threshold with a fresh mmap and returns it with munmap when freed. The threshold
adapts to what is freed but never above 32 MiB, so every larger buffer is new memory, and each of its pages
faults on first touch. The kNN monitor makes such buffers for every 1024-image batch of its features (the cpu
preset's first convolution alone: 1024 x 16 x 28 x 28 floats, 49 MiB): about 1.2M page faults a point,
measured. With the mmap threshold raised to 1 GiB these buffers come from the heap, and with the trim
threshold raised too the heap keeps the freed memory for the next batch instead of returning it: no faults
after the first point. The same tensors are computed by the same kernels at the same 64-byte alignment (torch's
CPU allocator aligns every buffer so), so no bit changes. The cost is memory: the process keeps freed heap
instead of returning it, and glibc's aligned allocations (torch's) cannot reuse a freed buffer of exactly their
size, so the heap settles a few buffers above the peak (+170-280 MiB of peak RSS at the cpu and cpu_full presets).
Set in-process with mallopt rather than by MALLOC_*_ environment variables at process start, so that every way
of starting a run gets it: the local executor's workers, the inline executor, torchrun's ranks, a test calling
`train` directly. A threshold the user set (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, or the
glibc.malloc tunable of the same name in GLIBC_TUNABLES) is kept. Without glibc (macOS, musl) it does nothing.

**OpenMP wait policy** (`thread_env`). With more than one torch thread, libgomp's idle threads spin for a while
after each parallel region before they sleep; on a machine whose cores are shared with other runs the spinning
takes the cores the others need. With OMP_WAIT_POLICY=PASSIVE they sleep instead: the threads split the same
work the same way, so the bits stay, and a 2-thread step on a shared 2-core machine ran several times faster.
libgomp reads the variable once, when it is loaded (with torch), so it goes into the environment of a run's
process before that process starts. A value the user set (OMP_WAIT_POLICY, or GOMP_SPINCOUNT, which
libgomp lets decide the spinning itself) is kept.
"""
from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping

LARGE_BUFFER_BYTES = 1 << 30    # mmap and trim thresholds: above every buffer of a CPU preset's monitor (cpu_full's
#                                 kNN similarities, 1024 x 60000 floats: 234 MiB) and below what a CPU run may hold
# glibc's malloc.h: mallopt parameter -> (environment variable, GLIBC_TUNABLES name) that set it at process start
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_THRESHOLDS = {"mmap_threshold": (_M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"),
               "trim_threshold": (_M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold")}
# what a user may set to choose libgomp's waiting themselves
WAIT_POLICY_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def _glibc_mallopt():
    """glibc's mallopt in this process, or None where the C library is not glibc (or cannot be loaded)."""
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")     # 'glibc 2.36'; unset elsewhere
    except (AttributeError, ValueError, OSError):
        return None
    if not version or not version.startswith("glibc"):
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt             # this process's symbols, the C library's among them
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def user_set_threshold(name: str, environ: Mapping[str, str]) -> bool:
    """Whether the environment already sets glibc's `name` ('mmap_threshold' or 'trim_threshold')."""
    _, variable, tunable = _THRESHOLDS[name]
    return variable in environ or f"{tunable}=" in environ.get("GLIBC_TUNABLES", "")


def keep_large_buffers(environ: Mapping[str, str] | None = None, mallopt=None) -> dict[str, int]:
    """Raise glibc's mmap and trim thresholds to LARGE_BUFFER_BYTES (module docstring), each unless the user set
    it; returns {name: bytes} of what was set: {} without glibc, or when glibc refused a value. Idempotent."""
    environ = os.environ if environ is None else environ
    mallopt = mallopt or _glibc_mallopt()
    if mallopt is None:
        return {}
    done = {}
    for name, (param, _, _) in _THRESHOLDS.items():
        if not user_set_threshold(name, environ) and mallopt(param, LARGE_BUFFER_BYTES) == 1:
            done[name] = LARGE_BUFFER_BYTES
    return done


def thread_env(threads: int, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What to add to the environment of a run's process that will use `threads` torch threads:
    OMP_WAIT_POLICY=PASSIVE where threads > 1 and the user set neither it nor GOMP_SPINCOUNT; else nothing."""
    environ = os.environ if environ is None else environ
    if threads > 1 and not any(v in environ for v in WAIT_POLICY_VARS):
        return {"OMP_WAIT_POLICY": "PASSIVE"}
    return {}
