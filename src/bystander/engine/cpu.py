"""What the CPU offers the models: its name and instruction sets, and whether int8 products are exact."""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

# oneDNN's cap on the instruction sets its kernels use (OpenVINO's CPU kernels honour it): where it
# is set to one of these, int8 runs without VNNI whatever the CPU has.
ISA_CAP = "ONEDNN_MAX_CPU_ISA"
_CAPS_WITHOUT_VNNI = {"SSE41", "AVX", "AVX2", "AVX512_CORE"}
_VNNI_FLAGS = {"avx512_vnni", "avx_vnni", "amx_int8"}


@lru_cache(maxsize=1)
def _fields() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def description() -> str:
    """The CPU's name and flags as the kernel reports them (the platform's name elsewhere), and the
    instruction-set cap if one is set."""
    fields = _fields()
    if not fields:
        name = platform.processor() or platform.machine()
    else:
        name = f"{fields.get('model name', '')}|{fields.get('flags', fields.get('Features', ''))}"
    return f"{name}|{os.environ.get(ISA_CAP, '')}"


def int8_exact() -> bool:
    """Whether int8 kernels multiply exactly here: with VNNI (AVX-512 or AVX) or AMX. Without (an
    AVX2-only x86 CPU), they add products in pairs that saturate at 16 bits, and a calibrated int8
    model finds fewer faces than its float original. Where the flags cannot be read, or the CPU is not
    x86, int8 is taken as exact."""
    cap = os.environ.get(ISA_CAP, "").upper()
    if cap in _CAPS_WITHOUT_VNNI:
        return False
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    flags = _fields().get("flags")
    return flags is None or bool(_VNNI_FLAGS & set(flags.split()))
