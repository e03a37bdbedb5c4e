"""What the CPU offers the models: its name and instruction sets (part of the compiled-model cache key)."""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

# oneDNN's cap on the instruction sets its kernels use (OpenVINO's CPU kernels honour it): a build
# compiled under one cap is not another's.
ISA_CAP = "ONEDNN_MAX_CPU_ISA"


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
