#!/usr/bin/env python3
"""Where a route call's time goes, by phase (run by profile.sh).

In process: for `route_call/plugin/N` and `route_call/native/N`, the
criterion median, then perf (cpu-clock samples, DWARF call stacks) attached
to a second run of the same benchmark in profile mode for 4 s of its steady
state; the benchmark thread's samples, from the first to the last that
shows the call (so loading falls outside), are sorted into phases.

Over HTTP: the `http_twins` server under wrk (2 threads, 16 connections),
its plugin route and then its native route, perf attached to the whole
server for 4 s; every server thread's samples are sorted, and each phase's
share of the server's CPU time is divided by the requests served.

A sample goes to the first phase whose pattern appears in its stack. Wasm
code has no unwinding information past its JIT frame, so a stack made only
of unknown and kernel frames counts as guest code.

usage: profile.py call BENCH_EXECUTABLE ENTITIES
       profile.py http HTTP_TWINS_EXECUTABLE
"""

import collections
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HZ = 999
RECORD_SECONDS = 4
GUEST = "guest code (wasm) and fiber switches"

PLUGIN_PHASES = [
    ("instance teardown: pool slot reset, store drop",
     ["drop_in_place<wasmtime::runtime::store::StoreInner", "StoreOpaque as core::ops::drop::Drop"]),
    ("instantiation (component and core instances)",
     ["instantiate_async", "Instance::new_raw", "Instantiator", "allocate_instance"]),
    ("store and WASI context", ["StoreMaker::store"]),
    ("an instance made ahead: taken, and the used one handed off", ["Reserves::take", "Reserves::hand_back"]),
    ("host call entities.count (SQLite and lowering)", ["EntitiesView", "plugin::entities::add_to_linker"]),
    ("host call settings.get (SQLite and lowering)", ["SettingsView", "plugin::settings::add_to_linker"]),
    ("other host calls (WASI, logging)", ["HostFn::entrypoint"]),
    (GUEST, ["wasmtime_fiber", "BlockingContext::with", "fiber::"]),
    ("call path: route lookup, limits, timer, result",
     ["call_route", "run_accepting", "Invocation", "by_deadline", "RoutesGuest"]),
]

NATIVE_PHASES = [
    ("entity count (SQLite)", ["count_entities"]),
    ("settings read (SQLite)", ["Host::settings", "settings::effective"]),
    ("JSON out", ["serde_json"]),
    ("rest of the native call", ["native_stats", "route_call"]),
]

HTTP_PHASES = [
    ("HTTP: hyper, axum, sockets", ["hyper", "axum", "mio::", "epoll"]),
    ("runtime: tokio scheduler, blocking pool, thread switches", ["tokio::runtime"]),
]

UNITS = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}


def samples(path):
    """Yields (tid, time, frames) for each sample, innermost frame first."""
    head, frames = None, []
    with open(path, errors="replace") as lines:
        for line in lines:
            if not line.strip():
                if head:
                    yield head[0], head[1], frames
                head, frames = None, []
            elif not line[0].isspace():
                match = re.match(r"\S.*?\s(\d+)\s+([\d.]+):", line)
                head = (int(match.group(1)), float(match.group(2))) if match else None
                frames = []
            else:
                parts = line.strip().split(None, 1)
                if len(parts) == 2:
                    frames.append(re.sub(r"\+0x[0-9a-f]+( \(.*\))?$", "", parts[1]))
    if head:
        yield head[0], head[1], frames


def longest_run(times, gap=0.2):
    """The longest stretch of times with no pause over `gap` seconds: the
    benchmark itself, not a lone call some other group's setup makes."""
    runs, first = [], times[0]
    for before, after in zip(times, times[1:]):
        if after - before > gap:
            runs.append((first, before))
            first = after
    runs.append((first, times[-1]))
    return max(runs, key=lambda run: run[1] - run[0])


def record(pid, work):
    """perf attached to `pid` for RECORD_SECONDS; the samples as text."""
    data = os.path.join(work, "perf.data")
    perf = ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(HZ), "--call-graph", "dwarf,32768"]
    subprocess.run(perf + ["-o", data, "-p", str(pid), "--", "sleep", str(RECORD_SECONDS)], check=True)
    script = ["perf", "script", "-i", data, "-F", "comm,tid,time,ip,sym"]
    stacks = os.path.join(work, "stacks.txt")
    with open(stacks, "w") as out:
        subprocess.run(script, check=True, stdout=out, stderr=subprocess.DEVNULL)
    return stacks


def classify(frames, phases):
    joined = "\n".join(frames)
    phase = next((name for name, patterns in phases if any(p in joined for p in patterns)), None)
    if phase is None and any(name == GUEST for name, _ in phases):
        if all(f.startswith("[unknown]") or "kernel" in f for f in frames):
            phase = GUEST
    return phase or "unattributed"


def detail(window, phases):
    """With PROFILE_DETAIL set: each phase's most sampled named functions, innermost
    first, to say what a phase's time is made of."""
    by_phase = collections.defaultdict(collections.Counter)
    for frames in window:
        named = [f for f in frames if not f.startswith("[unknown]")][:6]
        by_phase[classify(frames, phases)].update(set(named))
    for phase, functions in by_phase.items():
        print(f"### {phase}")
        for function, count in functions.most_common(12):
            print(f"- {count}: {function[:160]}")
        print()


def table(counts, phases, per_unit, unit):
    total = sum(counts.values())
    print(f"| phase | share | {unit} |")
    print("|---|---|---|")
    for name, _ in phases + [("unattributed", None)]:
        if name in counts:
            share = counts[name] / total
            print(f"| {name} | {100 * share:.1f} % | {share * per_unit:.1f} |")


def median_us(bench, name):
    """Criterion's median for one benchmark. The process is stopped once it
    printed it: the other groups' setup (compiling the Python and JavaScript
    examples among it) is not needed."""
    args = [bench, "--bench", f"^{name}$", "--warm-up-time", "2", "--measurement-time", "5"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as run:
        for line in run.stdout:
            match = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+)", line)
            if match:
                run.kill()
                return float(match.group(1)) * UNITS[match.group(2)]
    sys.exit(f"profile.py: criterion printed no time for {name}")


def profile_calls(bench, entities):
    with tempfile.TemporaryDirectory() as work:
        for kind, marker, phases in [("plugin", "call_route", PLUGIN_PHASES),
                                     ("native", "native_stats", NATIVE_PHASES)]:
            name = f"route_call/{kind}/{entities}"
            median = median_us(bench, name)
            # Setup and warm-up take well under the 2 s before perf attaches.
            args = [bench, "--bench", f"^{name}$", "--warm-up-time", "1", "--profile-time", "10"]
            with subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as run:
                time.sleep(2)
                stacks = record(run.pid, work)
                run.kill()
            everything = list(samples(stacks))
            marked = [(tid, t) for tid, t, frames in everything if any(marker in f for f in frames)]
            if not marked:
                sys.exit(f"profile.py: no sample of {name} shows {marker!r}")
            thread = collections.Counter(tid for tid, _ in marked).most_common(1)[0][0]
            start, end = longest_run(sorted(t for tid, t in marked if tid == thread))
            window = [f for tid, t, f in everything if tid == thread and start <= t <= end]
            counts = collections.Counter(classify(frames, phases) for frames in window)
            print(f"## {name}: criterion median {median:.1f} µs; {len(window)} samples over {end - start:.1f} s")
            table(counts, phases, median, "µs per call")
            print()
            if os.environ.get("PROFILE_DETAIL"):
                detail(window, phases)


def profile_http(twins):
    port = 18082
    with tempfile.TemporaryDirectory() as work, subprocess.Popen(
        [twins, f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as server:
        try:
            wait_for(f"http://127.0.0.1:{port}/native/stats/character", server)
            for kind, call_phases in [("plugin", PLUGIN_PHASES), ("native", NATIVE_PHASES)]:
                url = f"http://127.0.0.1:{port}/{kind}/stats/character"
                seconds = RECORD_SECONDS + 4
                with subprocess.Popen(["wrk", "-t2", "-c16", f"-d{seconds}s", url],
                                      stdout=subprocess.PIPE, text=True) as load:
                    time.sleep(2)
                    stacks = record(server.pid, work)
                    output = load.communicate()[0]
                rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
                window = [frames for _, _, frames in samples(stacks)]
                # A handler's stack holds hyper and tokio frames too, so the
                # call's own phases are looked for first.
                phases = call_phases + HTTP_PHASES
                counts = collections.Counter(classify(frames, phases) for frames in window)
                cpu_us = len(window) / HZ / (rps * RECORD_SECONDS) * 1e6
                print(f"## GET /{kind}/stats/character: {rps:,.0f} requests/s; "
                      f"server CPU {cpu_us:.1f} µs per request ({len(window)} samples)")
                table(counts, phases, cpu_us, "server CPU µs per request")
                print()
                if os.environ.get("PROFILE_DETAIL"):
                    detail(window, phases)
        finally:
            server.kill()


def wait_for(url, server):
    for _ in range(600):
        if server.poll() is not None:
            sys.exit("profile.py: http_twins exited before answering")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"profile.py: {url} did not answer within a minute")


if __name__ == "__main__":
    if sys.argv[1:2] == ["call"] and len(sys.argv) == 4:
        profile_calls(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["http"] and len(sys.argv) == 3:
        profile_http(sys.argv[2])
    else:
        sys.exit(__doc__)
