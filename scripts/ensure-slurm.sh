#!/usr/bin/env bash
# A real one-node Slurm on this machine (no init system: daemons started by hand).
#
#   scripts/ensure-slurm.sh [start]   install slurm-wlm if missing, start munged, slurmctld, slurmd
#   scripts/ensure-slurm.sh stop      stop the daemons this script started (pid files)
#   scripts/ensure-slurm.sh status    exit 0 when the controller answers and the node is up
#
# One node named after `hostname -s` at 127.0.0.1, one partition `p3s` (default), no
# accounting (sacct needs slurmdbd: use scontrol show job), no cgroups
# (proctrack/linuxproc, task/none). Needs root.
set -euo pipefail

NODE=$(hostname -s)
CONF=/etc/slurm/slurm.conf
RUN=/run/p3s-slurm

log() { echo "-- ensure-slurm: $*" >&2; }
die() { echo "ensure-slurm: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

up() {
    scontrol ping 2>/dev/null | grep -q "is UP" &&
        sinfo -h -N -o "%T" 2>/dev/null | grep -qE "^(idle|mixed|allocated|completing)"
}

install() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        log "installing slurm-wlm (about 10 s)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq slurm-wlm >/dev/null 2>&1 ||
            { apt-get update -qq && apt-get install -y -qq slurm-wlm >/dev/null; }
    fi
}

write_config() {
    local cpus mem
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 / 2}' /proc/meminfo)  # half the RAM, in MB
    if [ -f "$CONF" ] && ! grep -q "Written by p3s scripts/ensure-slurm.sh" "$CONF"; then
        die "$CONF is not ours (a site Slurm?): not overwriting it; start that Slurm instead"
    fi
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm "$RUN"
    chown slurm:slurm /var/spool/slurmctld /var/log/slurm "$RUN"
    cat > "$CONF.new" <<EOF
# Written by p3s scripts/ensure-slurm.sh: one node, no accounting, no cgroups.
ClusterName=p3s
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=30
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=p3s Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.new" "$CONF"
}

start() {
    if up; then log "already up"; return 0; fi
    local t0=$SECONDS
    install
    write_config
    if ! alive "$RUN/munged.pid"; then
        mkdir -p /run/munge /var/log/munge /var/lib/munge
        [ -s /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
        chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
        runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
        cp /run/munge/munged.pid "$RUN/munged.pid"
    fi
    alive "$RUN/slurmctld.pid" || /usr/sbin/slurmctld
    alive "$RUN/slurmd.pid" || /usr/sbin/slurmd
    for _ in $(seq 1 100); do up && break; sleep 0.3; done
    if ! up; then
        # A node left DOWN by an earlier run comes back with an explicit resume.
        scontrol update nodename="$NODE" state=resume 2>/dev/null || true
        sleep 1
    fi
    up || { tail -5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true; die "Slurm did not come up"; }
    log "up in $((SECONDS - t0)) s: node $NODE, partition p3s"
}

stop() {
    local name pid
    for name in slurmd slurmctld munged; do
        if alive "$RUN/$name.pid"; then
            pid=$(cat "$RUN/$name.pid")
            kill -TERM "$pid"
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$RUN/$name.pid"
    done
    log "stopped"
}

case "${1:-start}" in
    start | install) start ;;
    stop) stop ;;
    status) if up; then sinfo; else echo "Slurm is not up"; exit 1; fi ;;
    *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
