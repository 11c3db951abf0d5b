#!/bin/sh
# 5001-dst: the deterministic simulation (dst/dst.c) over seeds 1..200,
# each one test: the reconciler against the fake cloud with seeded
# faults, world events, fleet edits and crash-restarts, every invariant
# checked throughout.  Then ten seeds twice each: the same seed must
# give the same trace.  A failing seed prints the command that replays it.
# About 20 s on one core; `make dst SEEDS=N` runs more.
#
# Needs GR_BUILD (the build dir), as `make check` exports it.

: "${GR_BUILD:?set GR_BUILD to the build directory (make check does)}"
DST=$GR_BUILD/dst/dst
n=${GR_DST_SEEDS:-200}

echo "1..$((n + 1))"
"$DST" --seeds "1..$n" --tap | sed -n '2,$p'
if "$DST" --seeds 1001..1010 --twice >/dev/null 2>&1; then
	echo "ok $((n + 1)) - seeds 1001..1010 twice: the same traces"
else
	echo "not ok $((n + 1)) - seeds 1001..1010 twice: the same traces"
	"$DST" --seeds 1001..1010 --twice 2>&1 | sed 's/^/# /'
fi
