#!/usr/bin/env bash
# A real single-machine HTCondor pool for tests and demos, in a Debian 13 (trixie) chroot.
#
#   scripts/condor-pool.sh install   build the chroot once (cached in var/condor/), configure it
#   scripts/condor-pool.sh start     install if needed, mount, start condor_master, wait for a slot
#   scripts/condor-pool.sh stop      stop the master, unmount everything
#   scripts/condor-pool.sh status    say whether the pool runs (exit 0) or not (exit 1)
#   scripts/condor-pool.sh env       print the shell exports the host's Python bindings need
#
# Why a chroot: Debian 12 has no HTCondor package and the PyPI `htcondor` wheel holds only the
# bindings; trixie's `minicondor` needs a newer glibc than the host (see /work/shared RECIPES).
# The host talks to the pool on 127.0.0.1 with an IDTOKEN for the submit user `p3s`.
# The repository and the venv's base Python are bind-mounted at the same paths inside, so a
# pilot job can run `.venv/bin/p3s-pilot` exactly as on the host.
#
# Environment: P3S_CONDOR_ROOT (default <repo>/var/condor), P3S_CONDOR_PORT (default: derived
# from that folder, in 20000-29999),
# P3S_DEBIAN_MIRROR (default: the Debian mirror of the host's apt sources).
# Needs root (debootstrap, chroot, mount).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BASE=${P3S_CONDOR_ROOT:-$REPO/var/condor}
ROOT=$BASE/root
# A port of its own per checkout (20000-29999, below the ephemeral range), so the pools of
# two checkouts on one machine (a worktree and main, say) do not collide.
PORT=${P3S_CONDOR_PORT:-$((20000 + $(printf %s "$BASE" | cksum | cut -d" " -f1) % 10000))}
DOMAIN=p3s.local
SUBMIT_USER=p3s
STAMP=$ROOT/.p3s-installed
CLIENT_CONFIG=$BASE/client.conf
TOKEN_DIR=$BASE/tokens.d
JOB_DIR=$BASE/jobs
PIDFILE=/run/condor/master.pid

log() { echo "-- condor-pool: $*" >&2; }
die() { echo "condor-pool: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mount)"

debian_mirror() {
    if [ -n "${P3S_DEBIAN_MIRROR:-}" ]; then echo "$P3S_DEBIAN_MIRROR"; return; fi
    # The first plain Debian archive (not the security one) named in the host's apt sources.
    local url
    url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -v '^\s*#' | grep -oE '(https?)://[^ ]+' | grep -E '/debian/?$' | grep -v security | head -1 || true)
    echo "${url:-http://deb.debian.org/debian}"
}

# The prefix of the Python the repo's venv is built on (a pyenv folder, /usr, ...).
python_prefix() {
    if [ -x "$REPO/.venv/bin/python" ]; then
        "$REPO/.venv/bin/python" -c 'import sys; print(sys.base_prefix)'
    fi
}

is_mounted() { mountpoint -q "$1" 2>/dev/null; }

bind() {  # bind SRC [ro]: mount SRC at the same path inside the chroot
    local src=$1 dst=$ROOT$1
    is_mounted "$dst" && return 0
    if [ -d "$src" ]; then mkdir -p "$dst"; else mkdir -p "$(dirname "$dst")"; touch "$dst"; fi
    mount --bind "$src" "$dst"
    if [ "${2:-}" = ro ]; then mount -o remount,bind,ro "$dst"; fi
}

mount_all() {
    is_mounted "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
    if ! is_mounted "$ROOT/dev"; then
        mount --rbind /dev "$ROOT/dev"
        mount --make-rslave "$ROOT/dev"
    fi
    bind "$REPO"
    traversable "$REPO"
    local prefix
    prefix=$(python_prefix)
    case "$prefix" in
        "" ) ;;
        /usr | /usr/local )
            # A system Python: bring its standard library and interpreter, not all of /usr.
            local ver
            ver=$("$REPO/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
            bind "$prefix/lib/python$ver" ro
            bind "$prefix/bin/python$ver" ro ;;
        * ) bind "$prefix" ro
            traversable "$prefix" ;;
    esac
}

traversable() {
    # A path under a private home (/root/.pyenv, a clone in /root): let the chroot's job user
    # walk down to it. Only the chroot's own folders above the bind mount change.
    local d
    d=$(dirname "$1")
    while [ "$d" != / ]; do chmod o+x "$ROOT$d"; d=$(dirname "$d"); done
}

umount_all() {
    # Deepest mount points first; only those under our chroot.
    local m
    for m in $(awk -v r="$ROOT" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
}

runtime_dirs() {
    # Inside the chroot (its /var/lock is an absolute link to /run/lock: never mkdir it from
    # the host side, that would land in the host's /run).
    chroot "$ROOT" mkdir -p /run/condor /var/lock/condor
    chroot "$ROOT" chown condor:condor /run/condor /var/lock/condor
}

write_config() {
    cat > "$ROOT/etc/condor/config.d/99-p3s.conf" <<EOF
# Written by p3s scripts/condor-pool.sh
CONDOR_HOST = 127.0.0.1
NETWORK_INTERFACE = 127.0.0.1
COLLECTOR_HOST = 127.0.0.1:$PORT
SHARED_PORT_PORT = $PORT
UID_DOMAIN = $DOMAIN
TRUST_DOMAIN = $DOMAIN
FILESYSTEM_DOMAIN = $DOMAIN
# No cgroups or mount namespaces here: otherwise every job is held with errno 22.
MOUNT_UNDER_SCRATCH =
BASE_CGROUP =
# A few slots on a small machine; start jobs at once.
NUM_CPUS = 4
START = TRUE
SUSPEND = FALSE
PREEMPT = FALSE
KILL = FALSE
SCHEDD_INTERVAL = 5
NEGOTIATOR_INTERVAL = 2
NEGOTIATOR_CYCLE_DELAY = 1
STARTER_UPDATE_INTERVAL = 5
# The host's Python bindings authenticate with an IDTOKEN of the submit user (see client.conf);
# 00-minicondor already allows anyone on the loopback interface to read and submit.
EOF
    mkdir -p "$TOKEN_DIR" "$JOB_DIR"
    chmod 700 "$TOKEN_DIR"
    chmod 1777 "$JOB_DIR"
    cat > "$CLIENT_CONFIG" <<EOF
# Host-side client configuration for the p3s test pool (CONDOR_CONFIG points here).
COLLECTOR_HOST = 127.0.0.1:$PORT
SEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS
SEC_TOKEN_DIRECTORY = $TOKEN_DIR
UID_DOMAIN = $DOMAIN
TRUST_DOMAIN = $DOMAIN
FILESYSTEM_DOMAIN = $DOMAIN
EOF
}

install() {
    if [ -f "$STAMP" ]; then
        write_config
        log "chroot ready in $ROOT ($(cat "$STAMP"))"
        return 0
    fi
    local t0=$SECONDS mirror
    command -v debootstrap >/dev/null || {
        log "installing debootstrap on the host"
        apt-get install -y -qq debootstrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
    }
    mirror=$(debian_mirror)
    umount_all
    if [ ! -x "$ROOT/usr/bin/apt-get" ] || [ ! -f "$ROOT/.p3s-debootstrap" ]; then
        rm -rf "$ROOT"
        mkdir -p "$BASE"
        log "debootstrap trixie from $mirror (about 30 s)"
        debootstrap --variant=minbase trixie "$ROOT" "$mirror" > "$BASE/debootstrap.log" 2>&1 \
            || { tail -20 "$BASE/debootstrap.log" >&2; die "debootstrap failed (log: $BASE/debootstrap.log)"; }
        touch "$ROOT/.p3s-debootstrap"
    fi
    log "installing minicondor in the chroot"
    mount -t proc proc "$ROOT/proc"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
    # Never start services from package scripts inside the chroot.
    printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"; chmod +x "$ROOT/usr/sbin/policy-rc.d"
    if ! chroot "$ROOT" sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends minicondor' > "$BASE/apt.log" 2>&1; then
        umount -l "$ROOT/proc"; tail -20 "$BASE/apt.log" >&2; die "apt-get install minicondor failed (log: $BASE/apt.log)"
    fi
    chroot "$ROOT" apt-get clean
    umount -l "$ROOT/proc"
    # What systemd-tmpfiles would create, and a user for submitting (root cannot submit).
    chroot "$ROOT" sh -c "id $SUBMIT_USER >/dev/null 2>&1 || useradd -m -u 4242 $SUBMIT_USER"
    runtime_dirs
    chroot "$ROOT" mkdir -p /var/spool/condor /var/lib/condor/execute /var/log/condor \
        /etc/condor/passwords.d /etc/condor/tokens.d
    chroot "$ROOT" chown condor:condor /var/spool/condor /var/lib/condor/execute /var/log/condor
    chmod 700 "$ROOT/etc/condor/passwords.d"
    write_config
    # The pool's signing key, and an IDTOKEN for the submit user kept on the host side.
    if [ ! -s "$ROOT/etc/condor/passwords.d/POOL" ]; then
        chroot "$ROOT" condor_store_cred add -c -p "$(head -c 24 /dev/urandom | base64)" \
            -f /etc/condor/passwords.d/POOL >/dev/null
    fi
    chroot "$ROOT" condor_token_create -identity "$SUBMIT_USER@$DOMAIN" -key POOL \
        > "$TOKEN_DIR/$SUBMIT_USER.token"
    chmod 600 "$TOKEN_DIR/$SUBMIT_USER.token"
    echo "HTCondor $(chroot "$ROOT" condor_version | head -1 | awk '{print $2}'), built $(date -u +%FT%TZ)" > "$STAMP"
    log "installed in $((SECONDS - t0)) s, $(du -sh "$ROOT" 2>/dev/null | cut -f1) on disk"
}

master_pid() {
    local pid
    pid=$(cat "$ROOT$PIDFILE" 2>/dev/null || true)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

running() { [ -n "$(master_pid || true)" ]; }

client() { CONDOR_CONFIG=$CLIENT_CONFIG "$@"; }

slot_ready() {
    # A slot is advertised in the collector: ask from inside the chroot (no token needed there).
    chroot "$ROOT" condor_status -af Name 2>/dev/null | grep -q .
}

start() {
    install
    if running; then log "already running (master pid $(master_pid))"; return 0; fi
    local t0=$SECONDS
    mount_all
    runtime_dirs
    rm -f "$ROOT$PIDFILE"
    chroot "$ROOT" /usr/sbin/condor_master -pidfile "$PIDFILE"
    for _ in $(seq 1 150); do slot_ready && break; sleep 0.2; done
    slot_ready || { tail -20 "$ROOT/var/log/condor/MasterLog" >&2 || true; die "no slot after 30 s"; }
    log "pool up in $((SECONDS - t0)) s (master pid $(master_pid), collector 127.0.0.1:$PORT)"
}

stop() {
    if running; then
        local pid
        pid=$(master_pid)
        chroot "$ROOT" condor_off -master >/dev/null 2>&1 || kill -QUIT "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -QUIT "$pid" 2>/dev/null || true; sleep 1; fi
        # Daemons the master may have left behind, found by their root (never by name).
        local p
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && kill -KILL "${p#/proc/}" 2>/dev/null || true
        done
        log "stopped"
    fi
    umount_all
}

status() {
    if running; then
        echo "running: master pid $(master_pid), collector 127.0.0.1:$PORT, chroot $ROOT"
        chroot "$ROOT" condor_status -af Name State Activity 2>/dev/null || true
        return 0
    fi
    if [ -f "$STAMP" ]; then echo "stopped (installed: $(cat "$STAMP"))"; else echo "not installed"; fi
    return 1
}

print_env() {
    [ -f "$CLIENT_CONFIG" ] || die "not installed: run $0 install"
    echo "export CONDOR_CONFIG=$CLIENT_CONFIG"
    echo "export _CONDOR_SEC_TOKEN_DIRECTORY=$TOKEN_DIR"
    echo "export P3S_CONDOR_ROOT=$BASE"
    echo "export P3S_CONDOR_JOBDIR=$JOB_DIR"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) status ;;
    env) print_env ;;
    *) echo "usage: $0 install|start|stop|restart|status|env" >&2; exit 2 ;;
esac
