#!/usr/bin/env bash
# Stop the cluster that start.sh started: cancel its jobs, then stop the daemons whose PIDs it recorded
# (each checked against its name first, so a reused PID is never signalled), then remove DIR.
set -uo pipefail
DIR=${1:-${SIMSIAM_SLURM_DIR:-/tmp/simsiam-slurm}}
say() { echo "slurm-stop: $*" >&2; }
[ -f "$DIR/pids" ] || { say "nothing recorded in $DIR/pids"; exit 0; }
export SLURM_CONF=$DIR/slurm.conf

# jobs first: their processes belong to slurmstepd, which outlives slurmd
if timeout 5 scontrol ping 2>/dev/null | grep -q UP; then
  jobs=$(squeue -h -o %A 2>/dev/null | sort -u)
  if [ -n "$jobs" ]; then
    scancel $jobs 2>/dev/null
    for _ in $(seq 1 40); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.5; done
  fi
fi

# then the daemons, newest first
tac "$DIR/pids" | while read -r name pid; do
  [ -n "${pid:-}" ] || continue
  if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != "$name" ]; then continue; fi
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 40); do [ -d /proc/"$pid" ] || break; sleep 0.25; done
  if [ -d /proc/"$pid" ]; then say "$name ($pid) ignored SIGTERM; killing it"; kill -KILL "$pid" 2>/dev/null; fi
done
rm -rf "$DIR"
say "down"
