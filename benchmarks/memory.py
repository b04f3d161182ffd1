"""Resident memory of the current process, in MiB.

``ru_maxrss`` is inherited across fork+exec on Linux (a child started by a big parent
reports the parent's peak), so the Linux figures come from /proc, where an exec starts
afresh; elsewhere ``ru_maxrss`` is the fallback.
"""

from __future__ import annotations

import resource
import sys


def _status_kib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def _maxrss_mib() -> float:
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def rss_mib() -> float:
    """Current resident set size."""
    kib = _status_kib("VmRSS")
    return kib / 1024 if kib is not None else _maxrss_mib()


def peak_rss_mib() -> float:
    """Peak resident set size of this process since it started."""
    kib = _status_kib("VmHWM")
    return kib / 1024 if kib is not None else _maxrss_mib()
