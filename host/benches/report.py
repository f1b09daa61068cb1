#!/usr/bin/env python3
"""Turns criterion's medians (target/criterion) into the Markdown table of
BENCHMARKS.md: each measurement beside its same-run baseline, with the ratio.
Run after `cargo bench -p plinth-tests -p plinth-peers --bench plinth --bench extism`."""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2] / "target" / "criterion"

# (measurement, baseline) pairs, by criterion id.
PAIRS = [
    *[(f"route_call/plugin/{n}", f"route_call/native/{n}") for n in (100, 1000, 10000)],
    ("cold_start/uncached", None),
    ("cold_start/cached", "cold_start/uncached"),
    ("storage_roundtrip/missing_key", None),
    *[(f"storage_roundtrip/{op}/{size}", "storage_roundtrip/missing_key")
      for size in ("1KiB", "64KiB", "1MiB") for op in ("set", "get")],
    ("fan_out/ten_plugins", "fan_out/no_plugins"),
    ("legacy/math_add", "legacy/native_add"),
    ("languages/route/character-stats-py", "languages/route/character-stats"),
    ("languages/widget_render/word-count-widget-js", "languages/widget_render/word-count-widget"),
]

# The Pulley interpreter beside native code (`tests/benches/interpreted.rs`).
INTERPRETED_PAIRS = [
    *[(f"interpreted_route/pulley/{n}", f"interpreted_route/native/{n}") for n in (100, 1000, 10000)],
    ("interpreted_cold_start/pulley_artifact", "interpreted_cold_start/native_cached"),
    ("interpreted_languages/python_route/pulley", "interpreted_languages/python_route/native"),
    ("interpreted_languages/javascript_render/pulley", "interpreted_languages/javascript_render/native"),
    ("interpreted_legacy/pulley", "interpreted_legacy/native"),
]

# Plinth beside Extism (`peers/extism/benches/extism.rs`); a ratio below 1 means Plinth is faster.
PEER_PAIRS = [
    *[(f"peer_call/plinth/{n}", f"peer_call/extism_live/{n}") for n in (100, 1000, 10000)],
    *[(f"peer_call/plinth/{n}", f"peer_call/extism_fresh/{n}") for n in (100, 1000, 10000)],
    ("peer_cold_start/plinth_uncached", "peer_cold_start/extism_uncached"),
    ("peer_cold_start/plinth_cached", "peer_cold_start/extism_cached"),
    ("noop/plinth_live", "noop/native"),
    ("noop/extism_live", "noop/native"),
]


def median_ns(bench_id):
    path = ROOT.joinpath(*bench_id.split("/"), "new", "estimates.json")
    if not path.is_file():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def human(ns):
    if ns is None:
        return "–"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def table(pairs):
    """Prints one Markdown table; returns how many measurements are missing."""
    print("| benchmark | median | baseline | baseline median | ratio |")
    print("|---|---|---|---|---|")
    missing = 0
    for measured, baseline in pairs:
        m = median_ns(measured)
        b = median_ns(baseline) if baseline else None
        missing += m is None
        ratio = f"{m / b:.3g}×" if m and b else "–"
        print(f"| `{measured}` | {human(m)} | {f'`{baseline}`' if baseline else '–'} | {human(b)} | {ratio} |")
    return missing


def main():
    # `report.py interpreted` prints only the interpreted table.
    if sys.argv[1:] == ["interpreted"]:
        return 1 if table(INTERPRETED_PAIRS) else 0
    missing = table(PAIRS)
    print()
    missing += table(PEER_PAIRS)
    print()
    missing += table(INTERPRETED_PAIRS)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
