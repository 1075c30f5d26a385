#!/usr/bin/env bash
# Restores a backup made by scripts/backup.sh into an EMPTY database and an
# EMPTY (or missing) data directory, after checking every file against the
# backup's SHA256SUMS.
#
#     scripts/restore.sh BACKUP --data-dir DIR --database-url URL   (distributed)
#     scripts/restore.sh BACKUP --data-dir DIR                      (embedded)
#
# BACKUP is a backup directory, or its .tar.age / .tar.gpg (decrypted with
# $BACKUP_AGE_IDENTITY, an age identity file, or the gpg keyring). The
# database must exist and hold no tables (create it first: createdb, or the
# operator's PostgreSQL). After the copy the journal is replayed
# (flowex replay) and must give the MANIFEST's last seq and state hash.
# Then start the services on DIR and the database; the projections resume
# from their stored offsets and catch up from the journal, and trading
# republishes the event stream to an empty Redis.
#
# Environment: FLOWEX_BIN (default flowex on the PATH), PG_BIN (pg_restore
# and psql; default PATH, then /usr/lib/postgresql/15/bin).
set -euo pipefail

usage() { sed -n '2,20p' "$0" >&2; exit 2; }
log() { printf 'restore: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

backup='' data_dir='' database_url=''
while [ $# -gt 0 ]; do
    case "$1" in
    --data-dir) data_dir=${2:?}; shift ;;
    --database-url) database_url=${2:?}; shift ;;
    -h | --help) usage ;;
    -*) log "unknown argument $1"; usage ;;
    *) [ -z "$backup" ] || usage; backup=$1 ;;
    esac
    shift
done
if [ -z "$backup" ] || [ -z "$data_dir" ]; then usage; fi
flowex=${FLOWEX_BIN:-$(command -v flowex || true)}
[ -x "$flowex" ] || die "no flowex binary (set FLOWEX_BIN)"
pg_tool() {
    if command -v "$1" >/dev/null 2>&1 && [ -z "${PG_BIN:-}" ]; then
        command -v "$1"
    else
        echo "${PG_BIN:-/usr/lib/postgresql/15/bin}/$1"
    fi
}

if [ -e "$data_dir" ] && [ -n "$(ls -A "$data_dir")" ]; then
    die "$data_dir is not empty: restore only into an empty data directory"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case "$backup" in
*.tar.age | *.tar.gpg)
    if [ -f "$backup.sha256" ]; then
        (cd "$(dirname "$backup")" && sha256sum --quiet -c "$(basename "$backup").sha256") ||
            die "$backup does not match $backup.sha256"
    fi
    if [ "${backup##*.}" = age ]; then
        [ -n "${BACKUP_AGE_IDENTITY:-}" ] || die "set BACKUP_AGE_IDENTITY to the age identity file"
        age -d -i "$BACKUP_AGE_IDENTITY" "$backup" | tar -C "$work" -xf -
    else
        gpg --batch --decrypt "$backup" | tar -C "$work" -xf -
    fi
    src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'flowex-*' | head -n 1)
    ;;
*) src=$backup ;;
esac
if [ ! -f "$src/SHA256SUMS" ] || [ ! -f "$src/MANIFEST" ]; then
    die "$backup is not a FlowEx backup (no MANIFEST or SHA256SUMS)"
fi

# Every file listed, intact, and nothing unlisted.
(cd "$src" && sha256sum --quiet --strict -c SHA256SUMS) || die "checksums do not match: the backup is damaged"
listed=$(awk '{print $2}' "$src/SHA256SUMS" | sort)
present=$(cd "$src" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort)
[ "$listed" = "$present" ] || die "the backup holds files SHA256SUMS does not list"
manifest() { awk -F': ' -v k="$1" '$1 == k {print $2}' "$src/MANIFEST"; }
kind=$(manifest kind)
log "backup verified: $kind, last seq $(manifest last_seq), state hash $(manifest state_hash)"

mkdir -p "$data_dir"
chmod 700 "$data_dir"
if [ "$kind" = embedded ]; then
    cp -p "$src/flowex.db" "$data_dir/flowex.db"
    if [ -d "$src/secrets" ]; then
        cp -rp "$src/secrets" "$data_dir/secrets"
        chmod 700 "$data_dir/secrets"
        chmod 600 "$data_dir/secrets"/*
    fi
else
    [ -n "$database_url" ] || die "--database-url is required for a distributed backup"
    tables=$("$(pg_tool psql)" -X -q -t -A -d "$database_url" \
        -c "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
    [ "$tables" = 0 ] || die "the database already has $tables tables: restore only into an empty database"
    "$(pg_tool pg_restore)" --exit-on-error --no-owner --no-privileges --single-transaction \
        -d "$database_url" "$src/database.dump"
    log "database restored"
fi
cp -rp "$src/journal" "$data_dir/journal"
if [ -d "$src/config" ]; then
    cp -rp "$src/config" "$data_dir/restored-config"
    log "configuration copied to $data_dir/restored-config (not applied)"
fi

"$flowex" replay --data-dir "$data_dir" >"$work/replay.txt"
got_seq=$(awk -F': *' '/^last seq:/ {print $2}' "$work/replay.txt")
got_hash=$(awk -F': *' '/^state hash:/ {print $2}' "$work/replay.txt")
if [ "$got_seq" != "$(manifest last_seq)" ] || [ "$got_hash" != "$(manifest state_hash)" ]; then
    die "the restored journal replays to seq $got_seq hash $got_hash, the backup says $(manifest last_seq) $(manifest state_hash)"
fi
log "restored into $data_dir: journal replays to seq $got_seq, state hash $got_hash"
