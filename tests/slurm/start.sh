#!/usr/bin/env bash
# Start a throw-away single-node SLURM for the tests (Debian 12 packages, run as root, no systemd).
#
#   bash tests/slurm/start.sh [DIR]     # DIR defaults to $SIMSIAM_SLURM_DIR or /tmp/simsiam-slurm
#   source DIR/env.sh                   # SLURM_CONF and the sacct stand-in for your shell
#   bash tests/slurm/stop.sh [DIR]
#
# Everything lives under DIR (config, state, spool, logs); nothing is written to /etc/slurm. The PIDs of the
# daemons started here are written to DIR/pids, and stop.sh stops those only. Exit 0 when the cluster answers
# a test job; non-zero (with the reason on stderr) when it cannot be started: callers decide what that means.
# Why each setting is there: ../../../shared/notes/slurm-single-node.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-${SIMSIAM_SLURM_DIR:-/tmp/simsiam-slurm}}
say() { echo "slurm-start: $*" >&2; }

[ "$(id -u)" = 0 ] || { say "needs root (slurmd runs as root)"; exit 1; }
if [ -s "$DIR/pids" ] && SLURM_CONF=$DIR/slurm.conf timeout 5 scontrol ping 2>/dev/null | grep -q UP; then
  say "already up ($DIR)"; exit 0
fi

# ---- packages -------------------------------------------------------------------------------------
PKGS="slurmctld slurmd slurm-client munge"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  say "installing $PKGS"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends $PKGS >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $PKGS >/dev/null; } \
    || { say "could not install $PKGS"; exit 1; }
fi

# ---- directories and config ---------------------------------------------------------------------
[ -f "$DIR/pids" ] && bash "$HERE/stop.sh" "$DIR"
rm -rf "$DIR"
mkdir -p "$DIR"/{state,spool,log,bin,munge}
chown slurm: "$DIR/state" "$DIR/log"
chown munge: "$DIR/munge"
chmod 755 "$DIR"
HOST=$(hostname -s)
CPUS=$(nproc)
# at least 4 job slots, so the tests' single-CPU jobs run side by side even on a 2-core machine
SLOTS=${SIMSIAM_SLURM_CPUS:-$(( CPUS < 4 ? 4 : CPUS ))}
MEM_MB=$(awk '/MemTotal/ {m=int($2/1024*0.9); print (m > 20000 ? 20000 : m)}' /proc/meminfo)
cat > "$DIR/slurm.conf" <<CONF
ClusterName=simsiam-test
SlurmctldHost=$HOST
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=${SIMSIAM_SLURM_CRED_EXPIRE:-5}
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=${SIMSIAM_SLURMCTLD_PORT:-6817}
SlurmdPort=${SIMSIAM_SLURMD_PORT:-6818}
FirstJobId=$(( $(date +%s) % 1000000 * 10 + 1000 ))
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SchedulerParameters=sched_interval=2,bf_interval=2
KillWait=10
InactiveLimit=0
MinJobAge=300
NodeName=$HOST CPUs=$SLOTS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
# submitit asks sacct for job states; without slurmdbd the real one exits 1, so a stand-in answers instead
install -m 755 "$HERE/sacct" "$DIR/bin/sacct"
cat > "$DIR/env.sh" <<ENV
export SLURM_CONF=$DIR/slurm.conf
export SIMSIAM_SLURM_JOBCOMP=$DIR/log/jobcomp.txt
export PATH=$DIR/bin:\$PATH
ENV
export SLURM_CONF=$DIR/slurm.conf
: > "$DIR/pids"
# a failure from here on stops what was started, after saying why (with the end of the daemon's log)
fail() { say "$1"; [ -f "${2:-}" ] && tail -n 5 "$2" | sed 's/^/    /' >&2; exit 1; }
trap 'rc=$?; [ $rc = 0 ] || bash "$HERE/stop.sh" "$DIR" >/dev/null 2>&1 || true' EXIT

# ---- daemons --------------------------------------------------------------------------------------
wait_for() { local i; for i in $(seq 1 "$2"); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
readpid() { local i; for i in $(seq 1 40); do [ -s "$1" ] && { cat "$1"; return 0; }; sleep 0.25; done; return 1; }

if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "using the munged already running"
else
  [ -s /etc/munge/munge.key ] || { mungekey -c -f -k /etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; chown munge: /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  mkdir -p /run/munge && chown munge: /run/munge && chmod 755 /run/munge
  runuser -u munge -- munged --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log"
  echo "munged $(readpid "$DIR/munge/munged.pid")" >> "$DIR/pids"
  wait_for "munge -n | unmunge" 20 || fail "munged does not answer" "$DIR/munge/munged.log"
fi
slurmctld || fail "slurmctld did not start" "$DIR/log/slurmctld.log"
echo "slurmctld $(readpid "$DIR/slurmctld.pid")" >> "$DIR/pids"
wait_for "scontrol ping | grep -q UP" 40 || fail "slurmctld does not answer" "$DIR/log/slurmctld.log"
slurmd || fail "slurmd did not start" "$DIR/log/slurmd.log"
echo "slurmd $(readpid "$DIR/slurmd.pid")" >> "$DIR/pids"
wait_for "sinfo -h -o %T | grep -Eq '^(idle|mixed|allocated)'" 40 \
  || fail "node not ready: $(sinfo -h -N -o '%T %E' 2>&1)" "$DIR/log/slurmd.log"

# ---- smoke job ------------------------------------------------------------------------------------
out=$(timeout 30 srun -N1 -n1 -t 1 echo ok 2>&1) || fail "test job failed: $out" "$DIR/log/slurmd.log"
[ "$out" = ok ] || fail "test job said: $out"
say "up: node $HOST, $SLOTS job slots on $CPUS cores, config $DIR/slurm.conf (source $DIR/env.sh)"
