#!/usr/bin/env bash
# Install what the project needs on Debian 12: system packages (only those missing), then the
# virtualenv (only when pyproject.toml changed). Safe to run again; a second run takes well under
# a second. Usage: scripts/bootstrap.sh [--test]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

with_test=0
for arg in "$@"; do
  case "$arg" in
    --test) with_test=1 ;;
    *)
      echo "usage: $0 [--test]" >&2
      exit 2
      ;;
  esac
done

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "bootstrap: need root or sudo to run: $*" >&2
    exit 1
  fi
}

missing=()
# A command on PATH is enough: it may come from somewhere other than a Debian package.
need_command() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_package() { dpkg -s "$1" >/dev/null 2>&1 || missing+=("$1"); }

need_command redis-server redis-server
# Debian's python3 ships venv (ensurepip) in a separate package.
if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ "$with_test" -eq 1 ]; then
  # The server binaries live under /usr/lib/postgresql/<ver>/bin, not on PATH.
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  need_command chromium chromium
  need_package fonts-wqy-microhei
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: please install: ${missing[*]} (no apt-get on this system)" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  python3 -m venv .venv
fi

# The exact versions and hashes in requirements/dev.txt (`make lock` writes it from
# pyproject.toml); pip refuses anything whose hash differs or that the lock does not name. The
# project itself goes in last, without dependencies and without a build environment of its own
# (setuptools comes from the lock too).
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements/dev.txt -nt "$stamp" ]; then
  echo "bootstrap: installing Python dependencies from requirements/dev.txt"
  .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  touch "$stamp"
fi
