#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the storage tests.
#
# Sourced (what scripts/test does):
#     source scripts/test-db.sh
#     start_test_postgres        # exports FLOWEX_TEST_POSTGRES_URL, stops on EXIT
#     ... cargo test ...
#     stop_test_postgres         # optional: the EXIT trap does it too
#
# Run directly:
#     scripts/test-db.sh run CMD ARGS...   # start, run CMD with the URL set, stop
#     scripts/test-db.sh start             # start and print the export line; stop later with
#     scripts/test-db.sh stop DIR          #   the DIR it printed
#     scripts/test-db.sh restart DIR       # stop as in a crash (immediate), start again
#                                          #   on the same port (dependency-failure tests)
#
# The server runs as the `postgres` OS user (initdb and postgres refuse
# root), created if missing, listens on 127.0.0.1 only, on a free port, with
# trust authentication, fsync off, and all its files in one temporary
# directory that is removed on stop. Nothing else on the machine is touched.
#
# Settings (environment):
#     FLOWEX_TEST_PG_BIN      server binaries (default /usr/lib/postgresql/15/bin)
#     FLOWEX_TEST_PG_TMP      where the temporary directory goes (default /tmp)
#     FLOWEX_TEST_PG_INSTALL  1 (default when root): apt-get install postgresql-15
#                             if the binaries are missing

FLOWEX_TEST_PG_BIN=${FLOWEX_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}
FLOWEX_TEST_PG_DIR=${FLOWEX_TEST_PG_DIR:-}

_flowex_pg_log() { printf 'test-db: %s\n' "$*" >&2; }

# Runs a command as the server's owner: `postgres` when we are root, else us.
_flowex_pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_flowex_pg_ensure_binaries() {
    if [ -x "$FLOWEX_TEST_PG_BIN/postgres" ] && [ -x "$FLOWEX_TEST_PG_BIN/initdb" ]; then
        return 0
    fi
    local install=${FLOWEX_TEST_PG_INSTALL:-}
    if [ -z "$install" ] && [ "$(id -u)" = 0 ]; then install=1; fi
    if [ "$install" = 1 ] && command -v apt-get >/dev/null 2>&1; then
        _flowex_pg_log "installing postgresql-15 (no binaries in $FLOWEX_TEST_PG_BIN)"
        # The package's own cluster is not used; keep it from starting one.
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                postgresql-15 >&2 || return 1
    fi
    if [ ! -x "$FLOWEX_TEST_PG_BIN/postgres" ]; then
        _flowex_pg_log "no PostgreSQL server at $FLOWEX_TEST_PG_BIN (set FLOWEX_TEST_PG_BIN, or install postgresql-15)"
        return 1
    fi
}

_flowex_pg_ensure_user() {
    [ "$(id -u)" = 0 ] || return 0
    if ! id postgres >/dev/null 2>&1; then
        _flowex_pg_log "creating system user postgres"
        useradd --system --user-group --home-dir /var/lib/postgresql --shell /usr/sbin/nologin \
            postgres || return 1
    fi
}

# A free TCP port on 127.0.0.1 (the kernel's pick), or a random high one.
_flowex_pg_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' &&
            return 0
    fi
    echo $((20000 + RANDOM % 40000))
}

# Starts the server; exports FLOWEX_TEST_POSTGRES_URL and FLOWEX_TEST_PG_DIR.
# Registers stop_test_postgres on EXIT unless called with --no-trap.
start_test_postgres() {
    local trap_exit=1
    [ "${1:-}" = --no-trap ] && trap_exit=0
    if [ -n "${FLOWEX_TEST_PG_DIR:-}" ] && [ -f "$FLOWEX_TEST_PG_DIR/data/postmaster.pid" ]; then
        _flowex_pg_log "already running in $FLOWEX_TEST_PG_DIR"
        return 0
    fi
    _flowex_pg_ensure_binaries || return 1
    _flowex_pg_ensure_user || return 1

    local dir
    # Not $TMPDIR: the postgres user must be able to reach the directory.
    dir=$(mktemp -d "${FLOWEX_TEST_PG_TMP:-/tmp}/flowex-pg.XXXXXX") || return 1
    chmod 700 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if ! _flowex_pg_as_owner "$FLOWEX_TEST_PG_BIN/initdb" -D "$dir/data" -U postgres \
        --auth=trust --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
        _flowex_pg_log "initdb failed:"
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        return 1
    fi

    local port attempt started=0
    for attempt in 1 2 3 4 5; do
        port=$(_flowex_pg_free_port)
        if _flowex_pg_as_owner "$FLOWEX_TEST_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
            -w -t 60 -o "-c listen_addresses=127.0.0.1 -p $port -k $dir \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=300 -c shared_buffers=64MB" start >/dev/null 2>&1; then
            started=1
            break
        fi
        _flowex_pg_log "start on port $port failed (attempt $attempt), retrying"
    done
    if [ "$started" != 1 ]; then
        _flowex_pg_log "could not start PostgreSQL; server log:"
        tail -n 30 "$dir/server.log" >&2 2>/dev/null
        rm -rf "$dir"
        return 1
    fi

    for _ in $(seq 1 60); do
        "$FLOWEX_TEST_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres && break
        sleep 0.5
    done
    if ! _flowex_pg_as_owner "$FLOWEX_TEST_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres \
        flowex_test; then
        _flowex_pg_log "createdb failed"
        FLOWEX_TEST_PG_DIR=$dir stop_test_postgres
        return 1
    fi

    export FLOWEX_TEST_PG_DIR=$dir
    export FLOWEX_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/flowex_test"
    _flowex_pg_log "PostgreSQL $("$FLOWEX_TEST_PG_BIN/postgres" --version | awk '{print $3}') ready: FLOWEX_TEST_POSTGRES_URL=$FLOWEX_TEST_POSTGRES_URL"
    if [ "$trap_exit" = 1 ]; then
        # Chain onto an EXIT trap the caller may already have.
        # `trap -p` prints shell-quoted words: `trap -- 'CMD' EXIT`.
        local previous=
        if [ -n "$(trap -p EXIT)" ]; then
            eval "set -- $(trap -p EXIT)"
            previous=$3
        fi
        # shellcheck disable=SC2064
        trap "stop_test_postgres; ${previous:-:}" EXIT
    fi
}

# Stops the server started by start_test_postgres and removes its files.
stop_test_postgres() {
    local dir=${FLOWEX_TEST_PG_DIR:-}
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        _flowex_pg_as_owner "$FLOWEX_TEST_PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    unset FLOWEX_TEST_PG_DIR FLOWEX_TEST_POSTGRES_URL
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-}" in
    run)
        shift
        [ $# -gt 0 ] || { echo "usage: $0 run CMD [ARGS...]" >&2; exit 2; }
        start_test_postgres
        set +e
        "$@"
        status=$?
        set -e
        exit "$status"
        ;;
    start)
        start_test_postgres --no-trap
        echo "export FLOWEX_TEST_POSTGRES_URL=$FLOWEX_TEST_POSTGRES_URL"
        echo "# stop with: $0 stop $FLOWEX_TEST_PG_DIR"
        ;;
    stop)
        FLOWEX_TEST_PG_DIR=${2:?usage: $0 stop DIR} stop_test_postgres
        ;;
    restart)
        dir=${2:?usage: $0 restart DIR}
        # pg_ctl restart keeps the options of the last start (port, socket
        # directory): the same URL works again.
        _flowex_pg_as_owner "$FLOWEX_TEST_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
            -m immediate -w -t 60 restart >/dev/null
        ;;
    *)
        echo "usage: $0 run CMD [ARGS...] | start | stop DIR | restart DIR   (or: source $0; start_test_postgres)" >&2
        exit 2
        ;;
    esac
fi
