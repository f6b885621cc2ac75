#!/usr/bin/env bash
# Before and after against the durable limit, in one run: the durable
# baseline, enneo-edge built at REV (before) and enneo-edge of the work
# tree (after), each its own process with a fresh database, interleaved
# durable, before, after, ROUNDS times per load (1,000/s, 5,000/s,
# saturation at 128 connections), with each process's CPU per call
# (bench/ab-builds.sh, which this builds the two binaries for).
#
#   bench/ab-durable.sh 03a088b        # ROUNDS=2 DUR=8s by default
#   ROUNDS=3 DUR=10s bench/ab-durable.sh main
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/ab-durable.sh REV}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/before-src"
git archive "$rev" | tar -x -C "$work/before-src"
(cd "$work/before-src" && go build -o "$work/before" .)
go build -o "$work/after" .
echo "before = $rev, after = the work tree"
bench/ab-builds.sh before="$work/before" after="$work/after"
