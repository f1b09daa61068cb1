#!/usr/bin/env python3
"""The Python baseline of BENCHMARKS.md: cold start of the same plugin logic
as a Python plugin loaded by a Python process. Measures, in fresh processes,
the whole process (interpreter start, plugin import, first call) and, inside
the process, the plugin import plus first call alone. Prints medians."""

import statistics
import subprocess
import sys
import time

INNER = r"""
import importlib.util, sqlite3, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("plugin", sys.argv[1])
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)
db = sqlite3.connect(":memory:")
db.execute("CREATE TABLE entities (id TEXT, entity_type TEXT)")
plugin.get_stats(db, {}, "character")
print(time.perf_counter() - start)
"""

def main():
    plugin = sys.argv[1] if len(sys.argv) > 1 else "character_stats_plugin.py"
    process, inner = [], []
    for _ in range(20):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", INNER, plugin], capture_output=True, text=True, check=True)
        process.append(time.perf_counter() - started)
        inner.append(float(out.stdout))
    print(f"python process start + plugin import + first call: median {statistics.median(process) * 1000:.1f} ms")
    print(f"plugin import + first call inside the process:      median {statistics.median(inner) * 1000:.2f} ms")

if __name__ == "__main__":
    main()
