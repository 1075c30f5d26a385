#!/usr/bin/env bash
# Backs up a FlowEx installation while it runs.
#
# Distributed mode (PostgreSQL):
#     scripts/backup.sh --database-url URL --data-dir TRADING_DATA_DIR [--config FILE] [--out DIR]
# Embedded mode (flowex up: SQLite + journal + generated secrets):
#     scripts/backup.sh --embedded --data-dir DATA_DIR [--config FILE] [--out DIR]
#
# Writes DIR/flowex-<UTC time>/ (DIR: --out, else $BACKUP_DIR, else ./backups):
#     database.dump   pg_dump -Fc (one consistent snapshot), or
#     flowex.db       SQLite online backup (embedded)
#     journal/        the trading journal: newest snapshot and every later segment
#     secrets/        embedded mode only: the generated keys (API-key and TOTP
#                     secrets in the database are sealed with secret_box.key)
#     config/         the configuration file, if given
#     MANIFEST        kind, time, journal last seq and state hash (flowex replay)
#     SHA256SUMS      sha256 of every file above
# The database is dumped first, the journal copied after: the journal is then
# at or ahead of every projection's stored offset, and the projections catch
# up from it after a restore. The journal copy is replayed before it is
# accepted (copied again if the journal was pruned meanwhile).
#
# Optional, from the environment:
#     BACKUP_AGE_RECIPIENT   encrypt to this age recipient (age -r)  -> .tar.age
#     BACKUP_GPG_RECIPIENT   or to this gpg key (gpg -e -r)          -> .tar.gpg
#     BACKUP_S3_URI          upload the result there (s3://bucket/prefix, aws CLI)
#     BACKUP_S3_ENDPOINT     S3-compatible endpoint (MinIO, Ceph...)
#     BACKUP_KEEP            local backups to keep, newest first (default 14;
#                            remote retention is the bucket's lifecycle rule)
#     FLOWEX_BIN             the flowex binary (default: flowex on the PATH)
#     PG_BIN                 directory of pg_dump (default: PATH, then
#                            /usr/lib/postgresql/15/bin)
# Prints the path of the backup on the last line of standard output.
set -euo pipefail

usage() { sed -n '2,34p' "$0" >&2; exit 2; }
log() { printf 'backup: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

embedded=0 database_url=${FLOWEX_DATABASE_URL:-} data_dir='' config='' out=${BACKUP_DIR:-./backups}
while [ $# -gt 0 ]; do
    case "$1" in
    --embedded) embedded=1 ;;
    --database-url) database_url=${2:?}; shift ;;
    --data-dir) data_dir=${2:?}; shift ;;
    --config) config=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    -h | --help) usage ;;
    *) log "unknown argument $1"; usage ;;
    esac
    shift
done
[ -n "$data_dir" ] || die "--data-dir is required (trading's data directory, or flowex up's)"
journal=$data_dir/journal
[ -d "$journal" ] || die "$journal is not a journal directory"
flowex=${FLOWEX_BIN:-$(command -v flowex || true)}
[ -x "$flowex" ] || die "no flowex binary (set FLOWEX_BIN)"
keep=${BACKUP_KEEP:-14}
case "$keep" in '' | *[!0-9]* | 0) die "BACKUP_KEEP must be a positive number" ;; esac

pg_tool() {
    if command -v "$1" >/dev/null 2>&1 && [ -z "${PG_BIN:-}" ]; then
        command -v "$1"
    else
        echo "${PG_BIN:-/usr/lib/postgresql/15/bin}/$1"
    fi
}

name=flowex-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
work=$out/$name.partial
[ ! -e "$out/$name" ] || die "$out/$name exists already"
rm -rf "$work"
mkdir -m 700 "$work"
trap 'rm -rf "$work"' EXIT

# 1. The database.
if [ "$embedded" = 1 ]; then
    db=$data_dir/flowex.db
    [ -f "$db" ] || die "$db does not exist"
    # SQLite's online backup API: a consistent copy while flowex up writes.
    python3 - "$db" "$work/flowex.db" <<'PY'
import sqlite3, sys
src = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
dst = sqlite3.connect(sys.argv[2])
src.backup(dst)
if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
    sys.exit("the SQLite copy fails its integrity check")
dst.close()
src.close()
PY
    log "SQLite copied ($(du -h "$work/flowex.db" | cut -f1))"
else
    [ -n "$database_url" ] || die "--database-url (or FLOWEX_DATABASE_URL) is required; --embedded for flowex up"
    "$(pg_tool pg_dump)" --format=custom --compress=6 --no-owner --no-privileges \
        --file="$work/database.dump" "$database_url"
    log "PostgreSQL dumped ($(du -h "$work/database.dump" | cut -f1))"
fi

# 2. The journal: snapshots first, then segments oldest first, so that a
# prune between the two steps removes only segments a copied snapshot covers;
# the copy must then replay, else it is taken again.
copy_journal() {
    rm -rf "$work/journal"
    mkdir "$work/journal"
    local newest
    newest=$(find "$journal" -maxdepth 1 -name 'snapshot-*.snap' | sort | tail -n 1)
    [ -z "$newest" ] || cp -p "$newest" "$work/journal/"
    local seg
    while IFS= read -r seg; do
        cp -p "$seg" "$work/journal/" 2>/dev/null || [ ! -e "$seg" ] || return 1
    done < <(find "$journal" -maxdepth 1 -name 'journal-*.seg' | sort)
    "$flowex" replay --data-dir "$work" >"$work/replay.txt" 2>&1
}
copied=0
for attempt in 1 2 3; do
    if copy_journal; then copied=1; break; fi
    log "journal copy $attempt does not replay; copying again"
    sleep 1
done
[ "$copied" = 1 ] || { cat "$work/replay.txt" >&2; die "the journal copy does not replay"; }
last_seq=$(awk -F': *' '/^last seq:/ {print $2}' "$work/replay.txt")
state_hash=$(awk -F': *' '/^state hash:/ {print $2}' "$work/replay.txt")
rm -f "$work/replay.txt"
log "journal copied: last seq $last_seq, state hash $state_hash"

# 3. Secrets (embedded) and configuration.
if [ "$embedded" = 1 ] && [ -d "$data_dir/secrets" ]; then
    cp -rp "$data_dir/secrets" "$work/secrets"
fi
if [ -n "$config" ]; then
    mkdir "$work/config"
    cp -p "$config" "$work/config/"
fi

# 4. Manifest and checksums.
{
    echo "kind: $([ "$embedded" = 1 ] && echo embedded || echo distributed)"
    echo "created: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "flowex: $("$flowex" --version)"
    echo "last_seq: $last_seq"
    echo "state_hash: $state_hash"
} >"$work/MANIFEST"
(cd "$work" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs -d '\n' sha256sum) >"$work/SHA256SUMS"
mv "$work" "$out/$name"
trap - EXIT
result=$out/$name

# 5. Optional encryption, upload, retention.
if [ -n "${BACKUP_AGE_RECIPIENT:-}" ] || [ -n "${BACKUP_GPG_RECIPIENT:-}" ]; then
    if [ -n "${BACKUP_AGE_RECIPIENT:-}" ]; then
        tar -C "$out" -cf - "$name" | age -r "$BACKUP_AGE_RECIPIENT" -o "$out/$name.tar.age"
        result=$out/$name.tar.age
    else
        tar -C "$out" -cf - "$name" | gpg --batch --yes --encrypt --recipient "$BACKUP_GPG_RECIPIENT" \
            --output "$out/$name.tar.gpg"
        result=$out/$name.tar.gpg
    fi
    rm -rf "${out:?}/$name"
    (cd "$out" && sha256sum "$(basename "$result")" >"$(basename "$result").sha256")
    log "encrypted: $result"
fi
if [ -n "${BACKUP_S3_URI:-}" ]; then
    endpoint=()
    [ -z "${BACKUP_S3_ENDPOINT:-}" ] || endpoint=(--endpoint-url "$BACKUP_S3_ENDPOINT")
    if [ -d "$result" ]; then
        aws "${endpoint[@]}" s3 cp --recursive --only-show-errors "$result" "${BACKUP_S3_URI%/}/$name/"
    else
        aws "${endpoint[@]}" s3 cp --only-show-errors "$result" "${BACKUP_S3_URI%/}/"
        aws "${endpoint[@]}" s3 cp --only-show-errors "$result.sha256" "${BACKUP_S3_URI%/}/"
    fi
    log "uploaded to $BACKUP_S3_URI"
fi
find "$out" -maxdepth 1 -name 'flowex-*' ! -name '*.partial' ! -name '*.sha256' -printf '%f\n' |
    sort -r | tail -n +"$((keep + 1))" | while IFS= read -r old; do
    rm -rf "${out:?}/$old" "${out:?}/$old.sha256"
    log "retention: removed $old"
done
echo "$result"
