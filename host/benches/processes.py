#!/usr/bin/env python3
"""Whole-process cold starts for BENCHMARKS.md ("Cold start against the Python
baseline" and "Per language"): each example run by a fresh `plinth` process
(open the host, load, first call), compiling on a new data directory every time
and from the compile cache of one warmed data directory; then the Python
baseline (python/cold_start.py). Medians. Needs the example components, which
the benchmark command builds. Run from the repository root:
python3 host/benches/processes.py"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLINTH = Path("target/release/plinth")
# (label, plugin folder, plinth arguments after the folder, runs compiling, runs cached)
EXAMPLES = [
    ("Rust", "example-plugins/character-stats", ["call", "GET", "/stats/character"], 10, 20),
    ("Python", "example-plugins/character-stats-py", ["call", "GET", "/stats/character"], 3, 20),
    # A widget plugin has no route: `check` loads and initialises it.
    ("JavaScript", "example-plugins/word-count-widget-js", ["check"], 3, 0),
]


def timed(command):
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def command(folder, args, data_dir):
    verb, rest = args[0], args[1:]
    data = ["--data-dir", data_dir] if verb == "call" else []
    return [str(PLINTH), verb, *data, folder, *rest]


def median_ms(samples):
    return f"{statistics.median(samples) * 1000:.1f} ms"


def main():
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "plinth", "--bin", "plinth"], check=True)
    for label, folder, args, compiling_runs, cached_runs in EXAMPLES:
        if not (Path(folder) / "plugin.json").exists():
            sys.exit(f"{folder} is missing")
        compiling = []
        for _ in range(compiling_runs):
            with tempfile.TemporaryDirectory() as data:
                compiling.append(timed(command(folder, args, data)))
        line = f"{label:<10} process + load + first call, compiling: {median_ms(compiling)}"
        if cached_runs:
            with tempfile.TemporaryDirectory() as data:
                timed(command(folder, args, data))
                cached = [timed(command(folder, args, data)) for _ in range(cached_runs)]
            line += f"; from the compile cache: {median_ms(cached)}"
        print(line, flush=True)
    baseline = Path(__file__).parent / "python"
    subprocess.run([sys.executable, str(baseline / "cold_start.py"), str(baseline / "character_stats_plugin.py")], check=True)


if __name__ == "__main__":
    main()
