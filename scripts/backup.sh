#!/usr/bin/env bash
# Back up the database (pg_dump, custom format) and the uploaded audio into one directory.
# Usage: scripts/backup.sh DEST_DIR
#   DATABASE_URL  the app's PostgreSQL URL (postgresql+psycopg://user:pass@host:port/db)
#   UPLOAD_DIR    the uploads directory (default: var/uploads)
# Writes DEST_DIR/database.dump, DEST_DIR/uploads.tar.gz and DEST_DIR/MANIFEST.
set -euo pipefail

dest="${1:-}"
if [ -z "$dest" ] || [ "$#" -ne 1 ]; then
  echo "usage: $0 DEST_DIR" >&2
  exit 2
fi
: "${DATABASE_URL:?backup: set DATABASE_URL to the PostgreSQL database}"
case "$DATABASE_URL" in
  postgresql*) ;;
  *)
    echo "backup: DATABASE_URL is not PostgreSQL; for SQLite copy the file with: sqlite3 DB '.backup DEST'" >&2
    exit 2
    ;;
esac
upload_dir="${UPLOAD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/var/uploads}"
# libpq does not know SQLAlchemy's driver suffix.
url="postgresql://${DATABASE_URL#*://}"

mkdir -p "$dest"
pg_dump --format=custom --no-owner --no-privileges --file="$dest/database.dump" "$url"
if [ -d "$upload_dir" ]; then
  tar -czf "$dest/uploads.tar.gz" -C "$upload_dir" .
else
  tar -czf "$dest/uploads.tar.gz" --files-from /dev/null
fi
{
  echo "created $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "database.dump $(sha256sum "$dest/database.dump" | cut -d' ' -f1)"
  echo "uploads.tar.gz $(sha256sum "$dest/uploads.tar.gz" | cut -d' ' -f1)"
} >"$dest/MANIFEST"
echo "backup: wrote $dest (database.dump, uploads.tar.gz, MANIFEST)"
