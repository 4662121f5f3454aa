"""What the benchmark ran on: CPU, cores, memory, load and library versions."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("nautilus_trader", "pandas", "duckdb", "pyarrow", "numpy", "research-lib")


def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        return None
    return None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (how busy the shared machine was)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return None


def machine_info() -> dict[str, Any]:
    """CPU model (/proc/cpuinfo), cores, RAM (/proc/meminfo), Python and library versions."""
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            versions[package] = None
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gb": round(int(mem_kb.split()[0]) / 2**20, 1) if mem_kb else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "load_average_start": load_average(),
    }
