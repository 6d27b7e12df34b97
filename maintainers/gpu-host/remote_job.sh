#!/usr/bin/env bash
# Run a long command on a machine reached only through short calls (each at most ~10 minutes, the machine kept
# between them): the first call starts COMMAND in its own session, every call (the first too) watches it for up to
# SECONDS and packs the files under WORK matching KEEP (globs relative to WORK) into one tar, split into
# OUT_DIR/keep.tar.aa, .ab, ... of 15 MiB (a call brings back only a few files, each at most 16 MiB; here:
# `cat keep.tar.* | tar -x`), so nothing finished is lost if the machine goes away between calls.
#   KEEP="*/test.json */metrics.jsonl" maintainers/gpu-host/remote_job.sh SECONDS OUT_DIR WORK COMMAND [ARGS...]
# COMMAND's output goes to WORK.log (copied as OUT_DIR/job.log); it is done once it exits 0 (WORK.done).
set -u
secs=${1:?seconds to watch}; out=${2:?out dir}; work=${3:?work dir}; shift 3
mkdir -p "$work" "$out"
pidfile=$work.pid
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
if ! running && [ ! -f "$work.done" ] && [ $# -gt 0 ]; then
  printf -v cmd '%q ' "$@"
  setsid nohup bash -c "$cmd && touch '$work.done'" >> "$work.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  sleep 2
fi
end=$((SECONDS + secs))
while [ $SECONDS -lt $end ] && running; do sleep 5; done
cp "$work.log" "$out/job.log" 2>/dev/null
# shellcheck disable=SC2086  # KEEP's globs expand here, inside WORK
(cd "$work" && files=$(ls -d ${KEEP:-} 2>/dev/null; true) && [ -n "$files" ] && tar -cf - $files | split -b 15M - "$out/keep.tar.")
tail -c 1500 "$work.log"
if running; then echo "still running"; elif [ -f "$work.done" ]; then echo "done"; else echo "stopped (see job.log)"; fi
