"""Show this machine's device class and why, its windows and budget, and the kernel backend.

``--list`` prints every device class; ``--json`` prints the same as one JSON document.  The
detected class can be overridden with ``--class`` or the KAIROS_DEVICE_CLASS variable.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from typing import Any

from kairos.errors import EXIT_OK, EXIT_USAGE, DeviceClassError
from kairos.hardware.classes import DeviceClass, all_classes, load_class
from kairos.hardware.detect import detect_class
from kairos.tools import _json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--class",
        dest="device_class",
        metavar="NAME",
        help="take this class instead of detecting one",
    )
    parser.add_argument("--list", action="store_true", help="print every device class")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    try:
        detection = detect_class(args.device_class)
    except DeviceClassError as exc:
        print(f"kairos devices: {exc}", file=sys.stderr)
        return EXIT_USAGE
    cls = load_class(detection.name)
    kernels = kernel_backend()
    if args.json:
        document: dict[str, Any] = {
            "class": detection.name,
            "reason": detection.reason,
            "device_class": dataclasses.asdict(cls),
            "kernels": kernels,
        }
        if args.list:
            document["classes"] = [dataclasses.asdict(c) for c in all_classes()]
        print(_json.dumps(document, indent=2))
        return EXIT_OK
    print(f"class: {cls.name} ({detection.reason})")
    print(f"  {cls.description}; typical hardware: {cls.typical_hardware}")
    print(f"  windows: fast τ_base {cls.tau_base_s:g} s, slow τ_max {cls.tau_max_s:g} s")
    print(f"  mesh weight: {cls.weight:g}")
    print(f"  budget: {budget_text(cls)}")
    if kernels["backend"] is None:
        print(f"kernels: unavailable ({kernels['reason']})")
    else:
        print(f"kernels: {kernels['backend']} ({kernels['reason']})")
    if args.list:
        print()
        print(class_table(all_classes()))
    return EXIT_OK


def kernel_backend() -> dict[str, str | None]:
    """Which kernel backend ``kairos.kernels`` chose, and why; backend None if it fails."""
    try:
        kernels = importlib.import_module("kairos.kernels")
        return {"backend": str(kernels.BACKEND), "reason": str(kernels.BACKEND_REASON)}
    except (ImportError, AttributeError) as exc:
        return {"backend": None, "reason": f"{type(exc).__name__}: {exc}"}


def budget_text(cls: DeviceClass) -> str:
    budget = cls.budget
    memory = "no limit" if budget.memory_mb is None else f"{budget.memory_mb} MB"
    cpu = "no limit" if budget.cpu_quota is None else f"{budget.cpu_quota:g} CPU"
    return (
        f"at most {budget.max_actors} actors, {budget.max_sample_rate_hz:.0f} Hz of sensor "
        f"samples in total; emulated CPU {cpu}, memory {memory}"
    )


def class_table(classes: list[DeviceClass]) -> str:
    """Every class as an aligned plain-text table (fits a terminal over SSH)."""
    header = ("class", "τ_base s", "τ_max s", "weight", "actors", "rate Hz", "cpu", "memory MB")
    rows = [header]
    for c in classes:
        b = c.budget
        rows.append(
            (
                c.name,
                f"{c.tau_base_s:g}",
                f"{c.tau_max_s:g}",
                f"{c.weight:g}",
                str(b.max_actors),
                f"{b.max_sample_rate_hz:.0f}",
                "-" if b.cpu_quota is None else f"{b.cpu_quota:g}",
                "-" if b.memory_mb is None else str(b.memory_mb),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.extend(f"{c.name}: {c.role}; {c.typical_hardware}" for c in classes)
    return "\n".join(lines)
