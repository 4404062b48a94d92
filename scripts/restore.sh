#!/usr/bin/env bash
# Restore a backup of scripts/backup.sh into an EMPTY database and an uploads directory.
# Usage: scripts/restore.sh BACKUP_DIR
#   DATABASE_URL  the PostgreSQL database to restore into (created empty: createdb)
#   UPLOAD_DIR    where the uploads go (default: var/uploads)
# Stop web, workers and the scheduler first; start them again afterwards.
set -euo pipefail

src="${1:-}"
if [ -z "$src" ] || [ "$#" -ne 1 ]; then
  echo "usage: $0 BACKUP_DIR" >&2
  exit 2
fi
for file in database.dump uploads.tar.gz MANIFEST; do
  [ -f "$src/$file" ] || { echo "restore: $src/$file is missing: not a backup directory" >&2; exit 2; }
done
while read -r name sum; do
  [ "$name" = created ] && continue
  actual="$(sha256sum "$src/$name" | cut -d' ' -f1)"
  [ "$actual" = "$sum" ] || { echo "restore: $name does not match its MANIFEST checksum" >&2; exit 2; }
done <"$src/MANIFEST"
: "${DATABASE_URL:?restore: set DATABASE_URL to the (empty) PostgreSQL database}"
case "$DATABASE_URL" in
  postgresql*) ;;
  *) echo "restore: DATABASE_URL is not PostgreSQL" >&2; exit 2 ;;
esac
upload_dir="${UPLOAD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/var/uploads}"
url="postgresql://${DATABASE_URL#*://}"

tables="$(psql "$url" -Atc "select count(*) from pg_tables where schemaname = 'public'")"
if [ "$tables" != "0" ]; then
  echo "restore: the database already has $tables tables; restore into an empty one" >&2
  exit 2
fi
pg_restore --no-owner --no-privileges --exit-on-error --dbname="$url" "$src/database.dump"
mkdir -p "$upload_dir"
tar -xzf "$src/uploads.tar.gz" -C "$upload_dir"
echo "restore: database and uploads restored from $src"
