#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for trying hydra/launcher=submitit_slurm (and for
# tests/test_slurm.py). Needs root and the Debian packages slurm-wlm and munge:
#
#   apt-get install -y slurm-wlm munge
#   scripts/slurm_local.sh start /tmp/slurm     # prints: export SLURM_CONF=/tmp/slurm/slurm.conf
#   export SLURM_CONF=/tmp/slurm/slurm.conf; sinfo; sbatch ...; squeue
#   scripts/slurm_local.sh stop /tmp/slurm
#
# Everything (config, munge key and socket, state, spool, logs, pid files) lives in the given
# folder; nothing under /etc is used or changed, and the ports are free ones picked at start,
# so it runs beside a system SLURM. No cgroups (containers): proctrack/linuxproc, task/none.
# No accounting daemon: `sacct` answers "Slurm accounting storage is disabled" (submitit then
# warns "Bypassing sacct error" and waits for its result files instead).
# On failure it prints which step failed and the end of that step's log, and exits non-zero.
set -uo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd) || { echo "slurm_local: cannot create $2" >&2; exit 1; }
conf=$dir/slurm.conf
cpus=${SLURM_LOCAL_CPUS:-$(nproc)}

fail() {  # step, log file
    echo "slurm_local: $1 failed" >&2
    [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" >&2
    exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

stop_pid() {  # pid file: TERM, then KILL after 5 s
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$1"
}

start() {
    [ "$(id -u)" = 0 ] || fail "root check (slurmd must run as root; uid $(id -u))"
    for tool in munged slurmctld slurmd sinfo sbatch scontrol; do
        command -v "$tool" >/dev/null || fail "finding $tool (apt-get install slurm-wlm munge)"
    done
    command -v python3 >/dev/null || fail "finding python3 (picks free ports)"
    rm -rf "$dir"/{munge,state,spool,log,run}  # a fresh cluster: no jobs from an earlier start
    mkdir -p "$dir"/{munge,state,spool,log,run}
    chmod 755 "$dir" "$dir/munge"  # other users' sbatch/srun reach the socket; the key stays 0400

    # munge: a fresh key and a private socket
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none \
        || fail "writing the munge key"
    chmod 400 "$dir/munge/munge.key"
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed" 2>>"$dir/log/munged.log" \
        || fail "starting munged" "$dir/log/munged.log"
    munge -S "$dir/munge/munge.socket" -n | unmunge -S "$dir/munge/munge.socket" >/dev/null \
        || fail "munge round trip" "$dir/log/munged.log"

    # RealMemory must not exceed what slurmd measures, or the node is drained
    local memory
    memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    [ -n "$memory" ] || fail "measuring the node (slurmd -C)"
    cat >"$conf" <<EOF
ClusterName=petseg
SlurmctldHost=localhost
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in a container
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# a requeued job becomes eligible after cred_expire; only the periodic passes start it
SchedulerParameters=bf_interval=1,sched_interval=1
ReturnToService=2
# requeue (scontrol requeue, submitit's own requeue after a timeout signal)
JobRequeue=1
# quick turn-around: SIGTERM..SIGKILL, messages, node checks, finished-job records
KillWait=3
MessageTimeout=10
SlurmdTimeout=30
SlurmctldTimeout=30
InactiveLimit=0
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$conf
    slurmctld -f "$conf" -i 2>>"$dir/log/slurmctld.log" || fail "starting slurmctld" "$dir/log/slurmctld.log"
    slurmd -f "$conf" -N localhost 2>>"$dir/log/slurmd.log" || fail "starting slurmd" "$dir/log/slurmd.log"

    local state=""
    for _ in $(seq 150); do  # 30 s
        state=$(sinfo -h -N -n localhost -o %T 2>/dev/null)
        [ "$state" = idle ] && break
        sleep 0.2
    done
    if [ "$state" != idle ]; then
        echo "slurm_local: node state '$state' (sinfo -R: $(sinfo -h -R 2>&1))" >&2
        tail -n 15 "$dir/log/slurmctld.log" >&2
        fail "waiting for the node to be idle" "$dir/log/slurmd.log"
    fi
    echo "export SLURM_CONF=$conf"
}

stepds() {  # this cluster's slurmstepd processes (they inherit SLURM_CONF from slurmd)
    local pid
    for pid in $(pgrep -x slurmstepd); do
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "SLURM_CONF=$conf" && echo "$pid"
    done
}

stop() {
    local pid
    if [ -f "$conf" ] && [ -f "$dir/run/slurmctld.pid" ]; then  # cancel jobs, let them end
        export SLURM_CONF=$conf
        ids=$(timeout 10 squeue -h -o %i 2>/dev/null)
        [ -n "$ids" ] && timeout 10 scancel --full $ids 2>/dev/null
        for _ in $(seq 100); do  # 10 s
            [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    stop_pid "$dir/run/slurmd.pid"
    stop_pid "$dir/run/slurmctld.pid"
    for pid in $(stepds); do kill -9 "$pid" 2>/dev/null; done
    stop_pid "$dir/run/munged.pid"
}

case $action in
    start) stop; start ;;
    stop) stop ;;
    status) SLURM_CONF=$conf sinfo -N -l && SLURM_CONF=$conf squeue ;;
    *) usage ;;
esac
