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

for name in ("machine-start", "machine"):
    p = os.path.join(out, name + ".txt")
    if os.path.exists(p):
        print(" ".join(open(p).read().split()))


def best_saturation(t):
    rs = [load(os.path.basename(p)[:-5]) for p in glob.glob(os.path.join(out, f"saturation-{t}-c*.json"))]
    rs = [r for r in rs if r]
    return max((r["throughputPerSecond"] for r in rs), default=None)


def cpu_per_call(name):
    """The target's CPU (user + system) per answered call during run name."""
    p, r = os.path.join(out, name + ".cpu"), load(name)
    if not os.path.exists(p) or not r or not r.get("ok"):
        return "–"
    ticks, hz = (int(x) for x in open(p).read().split())
    return f"{1e6 * ticks / hz / r['ok']:.0f}"


def ratio_table():
    """Every target as a ratio to the durable-append limit of the same run."""
    lsat = best_saturation("durable")
    if not load("rate1000-durable") and not lsat:
        return

    def limit(rate, k):
        # the mean of durable's two runs at this rate (before and after)
        vs = [r["latencyMs"][k] for r in (load(f"rate{rate}-durable"), load(f"rate{rate}-durable2")) if r]
        return sum(vs) / len(vs) if vs else None

    def cell(v, base, lower_better=True):
        if v is None or base is None or base == 0:
            return "–"
        return f"{v:.3f} ({v / base:.2f}×)" if v < 100 else f"{v:,.0f} ({v / base:.2f}×)"

    def lat(r, k):
        return r["latencyMs"][k] if r and errs(r) == 0 else (r["latencyMs"][k] if r else None)

    print("\n| target (ratio to durable, same run; durable2 is its second run) | p50 ms at 1,000/s | p99 ms at 1,000/s | p99 ms at 5,000/s | saturation calls/s | target CPU µs per call at 1,000/s |")
    print("|---|---|---|---|---|---|")
    b50, b99, b5k = limit(1000, "p50"), limit(1000, "p99"), limit(5000, "p99")
    got = {}
    for t in ("durable", "durable2", "edge", "floor", "edgesync", "cluster", "clusterf", "fixed", "nethttp"):
        r1, r5, s = load(f"rate1000-{t}"), load(f"rate5000-{t}"), best_saturation(t)
        if not (r1 or r5 or s):
            continue
        v = (lat(r1, "p50"), lat(r1, "p99"), lat(r5, "p99"), s)
        got[t] = v
        note = ""
        if r5 and r5["throughputPerSecond"] < 0.95 * 5000:
            note = f" (achieved {r5['throughputPerSecond']:.0f}/s)"
        print(f"| {t} | {cell(v[0], b50)} | {cell(v[1], b99)} | {cell(v[2], b5k)}{note} | {cell(v[3], lsat)} | {cpu_per_call(f'rate1000-{t}')} |")
    if "edge" in got and "durable" in got:
        e = got["edge"]
        checks = [("p50 at 1,000/s", e[0], b50, 1.3, True), ("p99 at 1,000/s", e[1], b99, 1.5, True),
                  ("p99 at 5,000/s", e[2], b5k, 2.0, True), ("saturation", e[3], lsat, 0.7, False)]
        parts = []
        for name, v, b, lim_, le in checks:
            if v is None or not b:
                continue
            r = v / b
            ok = r <= lim_ if le else r >= lim_
            parts.append(f"{name} {r:.2f}× ({'≤' if le else '≥'} {lim_}: {'met' if ok else 'MISSED'})")
        print("\nedge against the limit: " + "; ".join(parts))
        if "floor" in got:
            # floor is edge with durability free: no log design can do
            # better, so its ratios bound what the log can still win.
            f = got["floor"]
            fparts = []
            for name, v, b, lim_, le in [("p50 at 1,000/s", f[0], b50, 1.3, True), ("p99 at 1,000/s", f[1], b99, 1.5, True),
                                         ("p99 at 5,000/s", f[2], b5k, 2.0, True), ("saturation", f[3], lsat, 0.7, False)]:
                if v is not None and b:
                    fparts.append(f"{name} {v / b:.2f}×")
            print("floor (edge with nothing fsynced) against the limit: " + "; ".join(fparts))
    print()


ratio_table()

sat = {}  # target -> [(concurrency, result)]
for p in sorted(glob.glob(os.path.join(out, "saturation-*-c*.json"))):
    m = re.match(r"saturation-(\w+)-c(\d+)\.json", os.path.basename(p))
    sat.setdefault(m.group(1), []).append((int(m.group(2)), load(os.path.basename(p)[:-5])))
if "edge" in sat:
    print("| saturation (closed model) | connections | calls/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for t in ("durable", "fixed", "edge", "floor", "edgesync", "cluster", "clusterf", "nethttp"):
        for c, r in sorted(sat.get(t, [])):
            l = r["latencyMs"]
            print(f"| {t} | {c} | {r['throughputPerSecond']:.0f} | {l['p50']:.3f} | {l['p99']:.3f} | {errs(r)} |")
    best = {t: max(r["throughputPerSecond"] for _, r in sat[t]) for t in sat}
    e = best["edge"]
    if "nethttp" in best and "fixed" in best:
        n, f = best["nethttp"], best["fixed"]
        print(f"\nbest of each: edge {e:.0f}, nethttp {n:.0f}, fixed {f:.0f} calls/s; "
              f"edge / nethttp baseline = {e / n:.1f}x (target >= 5x); edge / fixed ceiling = {100 * e / f:.0f}% (target >= 60%)")
    for t in ("cluster", "clusterf"):
        if t in best:
            print(f"{t} (3 members, calls to {'the leader' if t == 'cluster' else 'a follower'}) {best[t]:.0f} calls/s: {t} / edge = {best[t] / e:.2f}")
    if "edgesync" in best:
        print(f"edgesync (no write-ahead log) {best['edgesync']:.0f} calls/s: edge / edgesync = {e / best['edgesync']:.2f}")
    print()

for rate in (1000, 5000):
    rows = {t: load(f"rate{rate}-{t}") for t in ("durable", "fixed", "edge", "floor", "edgesync", "cluster", "clusterf", "nethttp", "durable2")}
    if not any(rows.values()):
        continue
    print(f"| {rate} calls/s (open model) | achieved calls/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | generator lag p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for t, r in rows.items():
        if r:
            l = r["latencyMs"]
            print(f"| {t} | {r['throughputPerSecond']:.0f} | {l['p50']:.3f} | {l['p90']:.3f} | {l['p99']:.3f} | {l['p99_9']:.3f} | {l['max']:.3f} | {errs(r)} | {r['sendLagP99Ms']:.3f} |")
    print()

sweep = sorted({int(re.match(r"gensweep(\d+)-", os.path.basename(p)).group(1)) for p in glob.glob(os.path.join(out, "gensweep*-*.json"))})
if sweep:
    print("| generator sweep: rate | durable p50 ms | durable p99 ms | fixed p50 ms | fixed p99 ms | fixed generator lag p99 ms |")
    print("|---|---|---|---|---|---|")
    for rate in sweep:
        d, f = load(f"gensweep{rate}-durable"), load(f"gensweep{rate}-fixed")
        c = lambda r, k: f"{r['latencyMs'][k]:.3f}" if r else "–"
        print(f"| {rate} | {c(d, 'p50')} | {c(d, 'p99')} | {c(f, 'p50')} | {c(f, 'p99')} | {f['sendLagP99Ms']:.3f} |" if f else f"| {rate} | {c(d, 'p50')} | {c(d, 'p99')} | – | – | – |")
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
