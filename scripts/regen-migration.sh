#!/usr/bin/env bash
# Rewrites migrations/versions/0001_initial_schema.py from the models. Only while the
# project has never been released: once a database in production exists, add a new
# revision with `flask db revision -m ...` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Keep the current file until the new one is generated: a broken app must not lose it.
mv migrations/versions/0001_initial_schema.py "$tmp/previous.py"
if ! DATABASE_URL="sqlite:///$tmp/empty.db" .venv/bin/flask db revision -m "initial schema" >/dev/null; then
  mv "$tmp/previous.py" migrations/versions/0001_initial_schema.py
  echo "regen-migration: generation failed; the previous migration is kept" >&2
  exit 1
fi
generated=$(ls migrations/versions/*_initial_schema.py)
sed -e "s/^revision = .*/revision = \"0001\"/" -e 's/^Revises: $/Revises:/' \
    -e "s/^Revision ID: .*/Revision ID: 0001/" "$generated" > migrations/versions/0001_initial_schema.py
[ "$generated" = migrations/versions/0001_initial_schema.py ] || rm -f "$generated"
.venv/bin/ruff check --fix -q migrations || true
.venv/bin/ruff format -q migrations
echo "regenerated migrations/versions/0001_initial_schema.py"
