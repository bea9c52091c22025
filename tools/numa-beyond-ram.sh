#!/bin/sh
# tools/numa-beyond-ram.sh - decode speed of a model larger than the memory it
# may use (issue 12): tokens/s against the share of the file that fits, with
# and without --prefetch-experts, the dense weights mlocked (--mlock-dense).
#
#   sh tools/numa-beyond-ram.sh MODEL.gguf "4 6 8 10 12 20" [TOKENS] [THREADS]
#
# For each limit (GiB) and each of off/on prefetch: drops the file from the
# page cache (dd iflag=nocache count=0: pages of the file that other
# processes have mapped stay), starts gds-run in a memory cgroup limited to
# that size (cgroup v2 memory.max where the memory controller is on v2,
# else v1 memory.limit_in_bytes; needs root), decodes TOKENS tokens (default
# 32) after an 8-token prompt (the file is read once inside the cgroup first,
# so that the run starts from the steady state: as much of the file cached as
# the limit lets stay), and prints one line: limit, share of the file
# that the limit is, prefetch, decode t/s, major page faults per decode token
# (faults on a page that was not in the page cache: with prefetch, the pages
# whose read it did not start in time), the main thread's time asleep per
# decode token (wall - CPU - run-queue wait: with one thread, the default
# THREADS, the time decode waits for the disk, which other load on the CPUs
# does not change), the file's resident share at the end (fincore). The page cache the run fills is
# charged to its cgroup, so the limit bounds how much of the file stays.
# Caveat: pages of the file cached by another process (outside the cgroup)
# are read for free; run it on a machine where nothing else maps the file.
set -e
MODEL=$1; LIMITS=${2:-"4 8 12"}; TOKENS=${3:-32}; THREADS=${4:-1}
RUN=${RUN:-build/bin/gds-run}
[ -f "$MODEL" ] && [ -x "$RUN" ] || { echo "usage: $0 MODEL.gguf \"LIMITS_GIB\" [TOKENS] [THREADS] (build gds-run first)" >&2; exit 1; }
size=$(stat -c %s "$MODEL")
if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
    CG=/sys/fs/cgroup/gds-beyond-ram.$$; mkdir "$CG"; LIMIT_FILE=memory.max
elif [ -d /sys/fs/cgroup/memory ]; then
    CG=/sys/fs/cgroup/memory/gds-beyond-ram.$$; mkdir "$CG"; LIMIT_FILE=memory.limit_in_bytes
else
    echo "no memory cgroup (v2 memory.max or v1 memory) here: run as root on a machine with one" >&2; exit 1
fi
trap 'rmdir "$CG" 2>/dev/null' EXIT
ulimit -l unlimited 2>/dev/null || true # root (CAP_IPC_LOCK) locks without it
echo "limit_gib share_of_file prefetch decode_tps majflt_per_token asleep_ms_per_token resident_share_end"
for L in $LIMITS; do
    for pf in off on; do
        dd if="$MODEL" iflag=nocache count=0 2>/dev/null
        echo $((L * 1073741824)) > "$CG/$LIMIT_FILE"
        opt=""; [ $pf = on ] && opt="--prefetch-experts"
        # shellcheck disable=SC2086
        out=$(sh -c 'echo $$ > "$1/cgroup.procs"; dd if="$2" of=/dev/null bs=16M 2>/dev/null; shift 2; exec "$@"' sh "$CG" "$MODEL" \
              "$RUN" -m "$MODEL" --prompt-ids "1 2 3 4 5 6 7 8" -n "$TOKENS" -t "$THREADS" --mlock-dense -v --numa-bw 100 $opt 2>&1 >/dev/null) || true
        line=$(echo "$out" | grep "gds-run: decode" | tail -1)
        ms=$(echo "$line" | sed -n 's/.*: \([0-9.]*\) ms\/token.*/\1/p')
        maj=$(echo "$line" | sed -n 's/.*, \([0-9.]*\) major page faults.*/\1/p')
        slp=$(echo "$line" | sed -n 's/.*asleep \([0-9.-]*\) ms\/token.*/\1/p')
        res=$(fincore -b -n -o RES "$MODEL" 2>/dev/null | tr -d ' ')
        awk -v L="$L" -v s="$size" -v pf="$pf" -v ms="$ms" -v m="$maj" -v z="$slp" -v r="$res" \
            'BEGIN { printf "%9d %13.3f %8s %10.2f %16s %19s %18.3f\n", L, L * 1073741824 / s, pf, (ms > 0 ? 1000 / ms : 0), m, z, r / s }'
    done
done
