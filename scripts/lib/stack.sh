# shellcheck shell=bash
# Start and stop a local Sluice stack: redis-server, the mock provider, the
# responder pool (`sluice serve`) and nginx, each in the background with a pid
# file in the run directory. Sourced by scripts/up, scripts/down, scripts/test.
#
# Settings (environment):
#   SLUICE_RUN_DIR     run directory              (default: <repo>/run)
#   SLUICE_PORT        nginx, on 127.0.0.1         (default: 8080)
#   SLUICE_REDIS_PORT  redis-server, on 127.0.0.1  (default: 6390)
#   SLUICE_MOCK_PORT   mock provider, on 127.0.0.1 (default: 9911)
#   SLUICE_BUILD       release | debug: which .build/<BUILD>/sluice and
#                      .build/<BUILD>/sluice-mock to run (default: release)
#
# Call stack_settings first; every other function uses what it sets.

# The Debian packages the build and the stack need.
STACK_PACKAGES=(nginx redis-server libfcgi-dev libhiredis-dev libcurl4-openssl-dev libre2-dev
                pkg-config curl openssl ca-certificates libpq-dev postgresql patchelf)
# What scripts/package needs to build the binary and the .deb (patchelf points the
# binary at the Swift runtime it bundles).
# shellcheck disable=SC2034 # used by scripts/package
BUILD_PACKAGES=(libfcgi-dev libhiredis-dev libcurl4-openssl-dev libre2-dev libpq-dev pkg-config patchelf)

stack_log() { printf '==> %s\n' "$*"; }
stack_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

stack_settings() {
    STACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    RUN_DIR=${SLUICE_RUN_DIR:-$STACK_ROOT/run}
    PORT=${SLUICE_PORT:-8080}
    REDIS_PORT=${SLUICE_REDIS_PORT:-6390}
    MOCK_PORT=${SLUICE_MOCK_PORT:-9911}
    BUILD=${SLUICE_BUILD:-release}
    [[ $BUILD == release || $BUILD == debug ]] || stack_die "SLUICE_BUILD must be release or debug"
    SLUICE_BIN=$STACK_ROOT/.build/$BUILD/sluice
    MOCK_BIN=$STACK_ROOT/.build/$BUILD/sluice-mock
    BASE_URL=http://127.0.0.1:$PORT
    local port
    for port in "$PORT" "$REDIS_PORT" "$MOCK_PORT"; do
        if ! [[ $port =~ ^[0-9]+$ ]] || ((port == 0 || port > 65535)); then
            stack_die "not a port: $port"
        fi
    done
}

# --- set-up --------------------------------------------------------------------

# Installs whichever of the given packages (default: STACK_PACKAGES) are missing
# (needs root); no-op if none.
stack_install_packages() {
    local missing=() package
    (($# > 0)) || set -- "${STACK_PACKAGES[@]}"
    for package in "$@"; do
        dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$package")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $EUID -eq 0 ]] || stack_die "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)"
    stack_log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
}

stack_require_swift() {
    command -v swift >/dev/null ||
        stack_die "swift is not on PATH; install a Swift 6 toolchain (https://www.swift.org/install/linux/)"
}

stack_build() {
    stack_require_swift
    local product
    for product in sluice sluice-mock; do
        stack_log "swift build -c $BUILD --product $product"
        (cd "$STACK_ROOT" && swift build -c "$BUILD" --product "$product")
    done
}

# --- processes -----------------------------------------------------------------

# True if something accepts TCP connections on 127.0.0.1:PORT.
stack_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free loopback port in 20000-31999 (for throwaway stacks): below Linux's
# ephemeral range (32768-60999), so no outgoing connection can hold it.
stack_free_port() {
    local port _
    for _ in {1..100}; do
        port=$((20000 + RANDOM % 12000))
        stack_port_busy "$port" || { echo "$port"; return 0; }
    done
    stack_die "no free port found"
}

# stack_spawn NAME LOG COMMAND...: runs COMMAND in its own session (so a
# terminal's SIGHUP never reaches it; `sluice serve` reloads on SIGHUP), with
# output appended to LOG, and writes its pid to RUN_DIR/NAME.pid. The
# background child of a non-interactive shell is not a process group
# leader, so setsid execs COMMAND in place and $! is COMMAND's pid.
stack_spawn() {
    local name=$1 log=$2
    shift 2
    setsid "$@" </dev/null >>"$log" 2>&1 &
    echo $! >"$RUN_DIR/$name.pid"
}

# stack_wait WHAT SECONDS PID LOG COMMAND...: polls COMMAND every 0.1 s until it
# succeeds; fails (showing the end of LOG) if PID exits or time runs out.
stack_wait() {
    local what=$1 seconds=$2 pid=$3 log=$4 tries
    shift 4
    for ((tries = seconds * 10; tries > 0; tries--)); do
        "$@" >/dev/null 2>&1 && return 0
        if [[ -n $pid ]] && ! stack_alive "$pid"; then
            printf 'error: %s exited; end of %s:\n' "$what" "$log" >&2
            tail -n 20 "$log" | sed 's/^/    /' >&2
            return 1
        fi
        sleep 0.1
    done
    printf 'error: %s not ready after %ss; end of %s:\n' "$what" "$seconds" "$log" >&2
    tail -n 20 "$log" | sed 's/^/    /' >&2
    return 1
}

# True while PID runs (a zombie waiting for its parent to reap it does not:
# daemons we started are reparented to pid 1, which may reap them late).
stack_alive() {
    local state
    state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

# stack_stop_pid NAME PIDFILE COMMAND_PATTERN WAIT: TERM, up to WAIT seconds,
# then KILL. Only a live process whose command line matches the pattern is
# signalled (a stale pid file may name a recycled pid).
stack_stop_pid() {
    local name=$1 pidfile=$2 pattern=$3 wait=$4 pid tries
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && stack_alive "$pid" &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((tries = wait * 10; tries > 0; tries--)); do
            stack_alive "$pid" || break
            sleep 0.1
        done
        if stack_alive "$pid"; then
            stack_log "$name (pid $pid) did not stop in ${wait}s: KILL"
            kill -KILL "$pid" 2>/dev/null || true
        else
            stack_log "stopped $name (pid $pid)"
        fi
    fi
    rm -f "$pidfile"
}

# Stops everything a previous stack_start left in RUN_DIR, in reverse order.
stack_stop() {
    [[ -d $RUN_DIR ]] || return 0
    stack_stop_pid nginx "$RUN_DIR/nginx/nginx.pid" "nginx" 10
    # Drains in-flight requests first (server.drain_timeout: 30s).
    stack_stop_pid "sluice serve" "$RUN_DIR/sluice.pid" "sluice serve" 40
    # (`sluice mock-provider`: the mock before it had a binary of its own.)
    stack_stop_pid "mock provider" "$RUN_DIR/mock-provider.pid" "sluice-mock \|sluice mock-provider" 10
    stack_stop_pid redis-server "$RUN_DIR/redis.pid" "redis-server" 10
}

# --- start ---------------------------------------------------------------------

# Renders scripts/sluice.default.yaml into RUN_DIR/sluice.yaml.
stack_render_config() {
    sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@REDIS_PORT@|$REDIS_PORT|g" -e "s|@MOCK_PORT@|$MOCK_PORT|g" \
        "$STACK_ROOT/scripts/sluice.default.yaml" >"$RUN_DIR/sluice.yaml"
}

# Starts redis, the mock provider, the pool and nginx (stopping what a
# previous start left in RUN_DIR first); returns once /sluice/healthz answers
# through nginx. Then stack_gateway_key gives a key.
stack_start() {
    [[ -x $SLUICE_BIN ]] || stack_die "$SLUICE_BIN not found (swift build -c $BUILD)"
    [[ -x $MOCK_BIN ]] || stack_die "$MOCK_BIN not found (swift build -c $BUILD)"
    command -v redis-server >/dev/null || stack_die "redis-server is not installed"
    command -v nginx >/dev/null || stack_die "nginx is not installed"

    mkdir -p "$RUN_DIR/redis" "$RUN_DIR/nginx"
    RUN_DIR=$(cd "$RUN_DIR" && pwd)
    [[ $RUN_DIR != *[[:space:]\|\;\'\"]* ]] || stack_die "the run directory's path must not contain spaces, quotes, '|' or ';'"
    local socket=$RUN_DIR/sluice.sock
    ((${#socket} < 100)) || stack_die "socket path too long for a unix socket: $socket (set SLUICE_RUN_DIR)"

    stack_stop
    local port
    for port in "$PORT" "$REDIS_PORT" "$MOCK_PORT"; do
        ! stack_port_busy "$port" ||
            stack_die "127.0.0.1:$port is in use (set SLUICE_PORT / SLUICE_REDIS_PORT / SLUICE_MOCK_PORT)"
    done

    # The mock provider's key: random, made once per run directory, passed to
    # sluice only through the environment (the config says ${env:SLUICE_MOCK_KEY}).
    if [[ ! -s $RUN_DIR/mock.key ]]; then
        (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' | sed 's/^/mock-/' >"$RUN_DIR/mock.key")
    fi
    SLUICE_MOCK_KEY=$(cat "$RUN_DIR/mock.key")
    export SLUICE_MOCK_KEY

    # Snapshots to RUN_DIR/redis/dump.rdb (also at shutdown), so gateway keys
    # survive scripts/down + scripts/up.
    stack_log "redis-server on 127.0.0.1:$REDIS_PORT"
    stack_spawn redis "$RUN_DIR/redis/redis.log" \
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR/redis" \
        --daemonize no --save 60 1 --appendonly no
    stack_wait redis-server 10 "$(cat "$RUN_DIR/redis.pid")" "$RUN_DIR/redis/redis.log" \
        stack_redis_ready

    stack_log "sluice-mock on 127.0.0.1:$MOCK_PORT"
    stack_spawn mock-provider "$RUN_DIR/mock-provider.log" \
        "$MOCK_BIN" --listen "127.0.0.1:$MOCK_PORT" --api-key "$SLUICE_MOCK_KEY" \
        --aws-access-key-id AKIASLUICEMOCK000001 --aws-secret-access-key "$SLUICE_MOCK_KEY"
    stack_wait "mock provider" 10 "$(cat "$RUN_DIR/mock-provider.pid")" "$RUN_DIR/mock-provider.log" \
        curl -sS -o /dev/null "http://127.0.0.1:$MOCK_PORT/v1/models"

    stack_log "sluice check --config $RUN_DIR/sluice.yaml"
    stack_render_config
    "$SLUICE_BIN" check --config "$RUN_DIR/sluice.yaml"

    stack_log "sluice serve on unix:$socket"
    # The master rewrites the same pid file with its own pid (the same one:
    # setsid execs it, see stack_spawn).
    stack_spawn sluice "$RUN_DIR/sluice.log" \
        "$SLUICE_BIN" serve --config "$RUN_DIR/sluice.yaml" --pid-file "$RUN_DIR/sluice.pid"
    stack_wait "sluice serve" 20 "$(cat "$RUN_DIR/sluice.pid")" "$RUN_DIR/sluice.log" test -S "$socket"

    stack_log "nginx on 127.0.0.1:$PORT"
    "$STACK_ROOT/scripts/render-nginx" "$RUN_DIR/nginx" "127.0.0.1:$PORT" "unix:$socket" \
        "$RUN_DIR/nginx/nginx.conf"
    local nginx_args=(-p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx/nginx.conf" -e "$RUN_DIR/nginx/logs/error.log")
    nginx -t -q "${nginx_args[@]}"
    nginx "${nginx_args[@]}"
    stack_wait "the gateway (${BASE_URL}/sluice/healthz)" 30 "" "$RUN_DIR/sluice.log" \
        curl -fsS "$BASE_URL/sluice/healthz"
}

stack_redis_ready() {
    [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

# Prints a working gateway key: the one in RUN_DIR/gateway.key if the gateway
# still accepts it, else a new one (`sluice keys create --name local`).
stack_gateway_key() {
    local key_file=$RUN_DIR/gateway.key key status
    if [[ -s $key_file ]]; then
        key=$(cat "$key_file")
        status=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "$BASE_URL/v1/models" || true)
        if [[ $status == 200 ]]; then
            echo "$key"
            return 0
        fi
    fi
    key=$("$SLUICE_BIN" keys create --config "$RUN_DIR/sluice.yaml" --name local --quiet)
    [[ $key == sk-sluice-* ]] || stack_die "sluice keys create printed no key"
    (umask 077 && echo "$key" >"$key_file")
    echo "$key"
}
