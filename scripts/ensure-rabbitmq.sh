#!/usr/bin/env bash
# A RabbitMQ broker (AMQP + STOMP) for the message-bus tests (tests/bus, p3s/bus).
#   ensure-rabbitmq.sh install                       install Debian's rabbitmq-server (idempotent)
#   ensure-rabbitmq.sh start DIR AMQP_PORT STOMP_PORT  a private node in DIR on 127.0.0.1 ports
#   ensure-rabbitmq.sh stop DIR                      stop that node
# No init system here: the node runs as the rabbitmq user with its own folders, cookie and
# ports (epmd on AMQP_PORT+10, distribution on AMQP_PORT+11), so it never meets another one.
set -euo pipefail
cmd=${1:-install}
if [ "$cmd" = install ]; then
    if command -v rabbitmq-server >/dev/null; then echo "-- rabbitmq-server present"; exit 0; fi
    [ "$(id -u)" = 0 ] || { echo "installing rabbitmq-server needs root" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null 2>&1 || {
        apt-get update -qq || true
        apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
    }
    command -v rabbitmq-server >/dev/null || { echo "rabbitmq-server did not install" >&2; exit 1; }
    echo "-- rabbitmq-server installed"; exit 0
fi
dir=${2:?DIR}
env_of() {
    local amqp=$1
    echo "RABBITMQ_BASE=$dir RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log" \
         "RABBITMQ_CONFIG_FILE=$dir/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins" \
         "RABBITMQ_NODENAME=p3s$amqp@localhost RABBITMQ_NODE_PORT=$amqp" \
         "RABBITMQ_DIST_PORT=$((amqp + 11)) ERL_EPMD_PORT=$((amqp + 10))" \
         "RABBITMQ_PID_FILE=$dir/pid HOME=$dir"
}
as_rabbit() { if [ "$(id -u)" = 0 ]; then su rabbitmq -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
case "$cmd" in
start)
    amqp=${3:?AMQP_PORT}; stomp=${4:?STOMP_PORT}
    command -v rabbitmq-server >/dev/null || { echo "rabbitmq-server is not installed" >&2; exit 1; }
    mkdir -p "$dir/mnesia" "$dir/log"
    echo "[rabbitmq_stomp]." > "$dir/enabled_plugins"
    cat > "$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp
stomp.listeners.tcp.1 = 127.0.0.1:$stomp
loopback_users = none
CONF
    echo "$amqp" > "$dir/amqp_port"
    head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/.erlang.cookie"
    chmod 400 "$dir/.erlang.cookie"
    [ "$(id -u)" = 0 ] && chown -R rabbitmq "$dir"
    as_rabbit "env $(env_of "$amqp") rabbitmq-server -detached" >/dev/null 2>&1
    # Ready when both listeners answer (rabbitmqctl would need the node's cookie; not needed).
    for _ in $(seq 1 180); do
        if (exec 3<>/dev/tcp/127.0.0.1/"$amqp") 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/"$stomp") 2>/dev/null; then
            up=1; break
        fi
        sleep 0.5
    done
    [ "${up:-}" = 1 ] || { echo "rabbitmq node did not open its ports; see $dir/log" >&2; exit 1; }
    echo "-- rabbitmq node p3s$amqp up: amqp 127.0.0.1:$amqp, stomp 127.0.0.1:$stomp"
    ;;
stop)
    amqp=$(cat "$dir/amqp_port")
    # the node's own process (its pid file), then the epmd it started on its private port
    if [ -s "$dir/pid" ]; then kill "$(cat "$dir/pid")" 2>/dev/null || true; fi
    for _ in $(seq 1 40); do (exec 3<>/dev/tcp/127.0.0.1/"$amqp") 2>/dev/null || break; sleep 0.5; done
    # the epmd started for this node listens on its private port: end that one
    as_rabbit "epmd -port $((amqp + 10)) -kill" >/dev/null 2>&1 || true
    ;;
*) echo "usage: $0 install | start DIR AMQP_PORT STOMP_PORT | stop DIR" >&2; exit 2 ;;
esac
