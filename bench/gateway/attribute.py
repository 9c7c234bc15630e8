#!/usr/bin/env python3
"""attribute.py: where ufopd's CPU goes on a cached request, from a perf profile.

    perf script -i perf.data | bench/gateway/attribute.py [CPU_SECONDS REQUESTS]

Each sample's call stack is put in the first bucket below whose frame it
contains (so allocation and GC assist are charged to the code that caused
them). Given the CPU time ufopd used while recording and the requests it
served, the shares are also turned into microseconds of CPU per request.
"""
import sys
from collections import Counter

# (bucket, frame substrings), first match wins; order matters where one
# stack holds several (the agent's handler runs under net/http's server).
BUCKETS = [
    ("GC background marking", ["runtime.gcBgMarkWorker"]),
    ("agent: /v1/process handler (JSON decode, result cache read, response write)",
     ["agent.(*Agent).handleProcess"]),
    ("gateway -> agent client (request write, response read, transport goroutines)",
     ["gateway.(*Gateway).callAgent", "net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop"]),
    ("storage Stat of the source (open + read the object header)", ["storage.(*Store).Stat"]),
    ("catalog lookups (bucket, user, limits: JSON decode per call)", ["catalog.(*Catalog)"]),
    ("per-user rate limiter", ["gateway.(*limiter)"]),
    ("request log line (slog JSON)", ["log/slog."]),
    ("Prometheus metrics", ["prometheus"]),
    ("client response write (echo Blob)", ["echo/v4.(*context).Blob"]),
    ("rest of the gateway handler (parse, ETag, headers, echo)", ["gateway.(*Gateway)", "echo/v4."]),
    ("HTTP servers' framing (read request, flush response; gateway and agent)", ["net/http.(*conn).serve"]),
    ("runtime: scheduler, netpoll, timers", ["runtime."]),
]


def samples(lines):
    """Yields each sample's frames (function names, leaf first)."""
    frames = []
    for line in lines:
        if not line.strip():
            if frames:
                yield frames
            frames = []
        elif line[0] in " \t":
            parts = line.split(None, 1)
            if len(parts) == 2:
                frames.append(parts[1].rsplit(" (", 1)[0])
    if frames:
        yield frames


def main():
    cpu_s, requests = (float(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (0, 0)
    counts, total = Counter(), 0
    for frames in samples(sys.stdin):
        total += 1
        for name, needles in BUCKETS:
            if any(n in f for f in frames for n in needles):
                counts[name] += 1
                break
        else:
            counts["other (kernel-only stacks, unknown)"] += 1
    if not total:
        sys.exit("attribute.py: no samples on stdin")
    print(f"{total} samples" + (f", {cpu_s:.2f} CPU-s, {requests} requests" if requests else ""))
    print("| where | share of ufopd CPU |" + (" µs CPU/request |" if requests else ""))
    print("|---|---:|" + ("---:|" if requests else ""))
    # Samples are taken at a fixed rate (perf record -F), so a share of
    # samples is a share of CPU time.
    for name, n in counts.most_common():
        row = f"| {name} | {100 * n / total:.1f}% |"
        if requests:
            row += f" {n / total * cpu_s * 1e6 / requests:.0f} |"
        print(row)


if __name__ == "__main__":
    main()
