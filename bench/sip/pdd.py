#!/usr/bin/env python3
"""Post-dial delay per call from sipp's message trace (-trace_msg).

sipp's own response times (-trace_rtt) step by its internal clock tick
(4 ms on the machine of BENCHMARKS.md); its message trace stamps every
message with gettimeofday in microseconds. For each Call-ID: the first INVITE
sent to the first 200 OK to the INVITE received.

usage: pdd.py NAME MESSAGES.log   prints: NAME calls p50 p90 p99 max (ms)
"""
import re
import sys

SEP = re.compile(r"^-{40,} (\d{4}-\d\d-\d\d)\s+(\d\d):(\d\d):(\d\d\.\d+)$")


def blocks(path):
    stamp, lines = None, []
    with open(path, errors="replace") as f:
        for line in f:
            m = SEP.match(line.rstrip("\n"))
            if m:
                if stamp is not None:
                    yield stamp, lines
                h, mi, s = int(m.group(2)), int(m.group(3)), float(m.group(4))
                stamp, lines = h * 3600 + mi * 60 + s, []
            else:
                lines.append(line.rstrip("\r\n"))
    if stamp is not None:
        yield stamp, lines


def header(lines, name):
    name = name.lower() + ":"
    for l in lines:
        if l.lower().startswith(name):
            return l[len(name):].strip()
    return ""


def main():
    name, path = sys.argv[1], sys.argv[2]
    sent, answered = {}, {}
    for stamp, lines in blocks(path):
        body = [l for l in lines if l.strip()]
        if len(body) < 2:
            continue
        kind, first = body[0], body[1].strip()
        call = header(body, "Call-ID")
        if "sent" in kind and first.startswith("INVITE ") and call not in sent:
            sent[call] = stamp
        elif "received" in kind and first.startswith("SIP/2.0 200") and "INVITE" in header(body, "CSeq"):
            answered.setdefault(call, stamp)
    pdd = sorted((answered[c] - sent[c]) * 1000 for c in answered if c in sent)
    if not pdd:
        print(f"{name:<8} {0:6d}")
        return

    def q(p):
        return pdd[max(0, min(len(pdd) - 1, int(len(pdd) * p + 0.5) - 1))]

    print(f"{name:<8} {len(pdd):6d} {q(0.5):7.2f} {q(0.9):7.2f} {q(0.99):7.2f} {pdd[-1]:8.2f}")


if __name__ == "__main__":
    main()
