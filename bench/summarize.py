#!/usr/bin/env python3
"""Prints the BENCHMARKS.md tables from the JSON files bench/compare.sh wrote."""
import json, os, sys

out = sys.argv[1]


def load(name):
    p = os.path.join(out, name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)["results"][0]


def errs(r):
    return sum(r["errors"].values())


print(f"results in {out}\n")
import glob, re

sat = {}  # target -> [(concurrency, result)]
for p in sorted(glob.glob(os.path.join(out, "saturation-*-c*.json"))):
    m = re.match(r"saturation-(\w+)-c(\d+)\.json", os.path.basename(p))
    sat.setdefault(m.group(1), []).append((int(m.group(2)), load(os.path.basename(p)[:-5])))
if all(t in sat for t in ("fixed", "edge", "nethttp")):
    print("| saturation (closed model) | connections | calls/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for t in ("fixed", "edge", "edgesync", "nethttp"):
        for c, r in sorted(sat.get(t, [])):
            l = r["latencyMs"]
            print(f"| {t} | {c} | {r['throughputPerSecond']:.0f} | {l['p50']:.3f} | {l['p99']:.3f} | {errs(r)} |")
    best = {t: max(r["throughputPerSecond"] for _, r in sat[t]) for t in sat}
    e, n, f = best["edge"], best["nethttp"], best["fixed"]
    print(f"\nbest of each: edge {e:.0f}, nethttp {n:.0f}, fixed {f:.0f} calls/s; "
          f"edge / nethttp baseline = {e / n:.1f}x (target >= 5x); edge / fixed ceiling = {100 * e / f:.0f}% (target >= 60%)")
    if "edgesync" in best:
        print(f"edgesync (no write-ahead log) {best['edgesync']:.0f} calls/s: edge / edgesync = {e / best['edgesync']:.2f}")
    print()

for rate in (1000, 5000):
    rows = {t: load(f"rate{rate}-{t}") for t in ("fixed", "edge", "edgesync", "nethttp")}
    if not any(rows.values()):
        continue
    print(f"| {rate} calls/s (open model) | achieved calls/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | generator lag p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for t, r in rows.items():
        if r:
            l = r["latencyMs"]
            print(f"| {t} | {r['throughputPerSecond']:.0f} | {l['p50']:.3f} | {l['p90']:.3f} | {l['p99']:.3f} | {l['p99_9']:.3f} | {l['max']:.3f} | {errs(r)} | {r['sendLagP99Ms']:.3f} |")
    print()

p = os.path.join(out, "edge-heap-peak-mb.txt")
if os.path.exists(p):
    print(f"edge peak Go heap during all runs (gctrace): {open(p).read().strip()} MB (target < 64 MB)")
p = os.path.join(out, "edge-rss.txt")
if os.path.exists(p):
    print(f"edge {open(p).read().strip()} (includes the mapped database file)")

for t in ("delay", "fixed", "edge"):
    bs = [load(f"agree-{t}-bench-{i}") for i in (1, 2)]
    vps = [os.path.join(out, f"agree-{t}-vegeta-{i}.json") for i in (1, 2)]
    if not all(bs) or not all(os.path.exists(p) for p in vps):
        continue
    vs = [json.load(open(p))["latencies"] for p in vps]
    print(f"\n| agreement on {t}, 1000 calls/s | bench run 1 | vegeta run 1 | vegeta run 2 | bench run 2 | bench mean / vegeta mean |")
    print("|---|---|---|---|---|---|")
    for k, vk in (("p50", "50th"), ("p99", "99th")):
        b1, b2 = (b["latencyMs"][k] for b in bs)
        v1, v2 = (v[vk] / 1e6 for v in vs)
        print(f"| {k} ms | {b1:.3f} | {v1:.3f} | {v2:.3f} | {b2:.3f} | {100 * ((b1 + b2) / (v1 + v2) - 1):+.0f}% |")


def wrk_latency(path):
    # wrk --latency: "     50%    2.24ms" lines; units us, ms, s
    got = {}
    for line in open(path):
        m = re.match(r"\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", line)
        if m:
            got["p" + m.group(1)] = float(m.group(2)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(3)]
    return got


for t in ("delay", "edge"):
    bs = [load(f"agree-{t}-wbench-{i}") for i in (1, 2)]
    wps = [os.path.join(out, f"agree-{t}-wrk-{i}.txt") for i in (1, 2)]
    if not all(bs) or not all(os.path.exists(p) for p in wps):
        continue
    ws = [wrk_latency(p) for p in wps]
    print(f"\n| agreement on {t}, wrk at a fixed rate ({bs[0]['throughputPerSecond']:.0f}/s) | wrk run 1 | bench run 1 | bench run 2 | wrk run 2 | bench mean / wrk mean |")
    print("|---|---|---|---|---|---|")
    for k in ("p50", "p99"):
        b1, b2 = (b["latencyMs"][k] for b in bs)
        w1, w2 = (w[k] for w in ws)
        print(f"| {k} ms | {w1:.3f} | {b1:.3f} | {b2:.3f} | {w2:.3f} | {100 * ((b1 + b2) / (w1 + w2) - 1):+.0f}% |")

p = os.path.join(out, "startup-ms.txt")
if os.path.exists(p):
    print(f"\nstart-up on the seeded database, exec to listening (ms): {', '.join(open(p).read().split())} (target < 500)")
