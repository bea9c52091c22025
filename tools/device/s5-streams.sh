#!/bin/bash
# sourced by the session-5 device calls after gpu-env.sh and the f4q convert (needs build/bin/gds-bench,
# /tmp/f4q.gguf): issue 10's 1 vs 4 streams, GDS_MM_AMX_MIN=8 vs 2 alternating (three rounds), and the
# per-op profile of a 4-stream step.
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
for i in ${ROUNDS:-1 2 3}; do for a in 8 2; do
    GDS_MM_AMX_MIN=$a timeout 45 build/bin/gds-bench $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | tr '\n' ' ' | sed "s/^/amxmin=$a /"; echo
done; done; el streams
GDS_MM_AMX_MIN=8 GDS_PROF=1 timeout 40 build/bin/gds-bench $B -n 16 -s 4 --streams-only -r 1 2>&1 | grep -A 16 "ms  *%" | head -17; el prof
