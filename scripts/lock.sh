#!/usr/bin/env bash
# Write the locks from pyproject.toml: requirements/main.txt (what production installs) and
# requirements/dev.txt (the same versions plus the test tools; `make run` and `make test`
# install it). Every line carries its hashes. Usage: scripts/lock.sh [--upgrade]
#   no flag    keep every locked version that still fits pyproject.toml (after editing it)
#   --upgrade  take the newest versions pyproject.toml's ranges allow
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

upgrade=()
for arg in "$@"; do
  case "$arg" in
    --upgrade) upgrade=(--upgrade) ;;
    *)
      echo "usage: $0 [--upgrade]" >&2
      exit 2
      ;;
  esac
done

uv=.venv/bin/uv
[ -x "$uv" ] || { echo "lock: run 'make setup' first (uv comes with the dev tools)" >&2; exit 1; }

common=(--python-version 3.11 --generate-hashes --quiet --custom-compile-command "make lock")
"$uv" pip compile "${common[@]}" "${upgrade[@]}" pyproject.toml requirements/build.in \
  -o requirements/main.txt
# The dev lock is constrained by the main one, so both hold the same version of every library.
"$uv" pip compile "${common[@]}" "${upgrade[@]}" pyproject.toml requirements/build.in --extra dev \
  -c requirements/main.txt -o requirements/dev.txt
echo "lock: wrote requirements/main.txt and requirements/dev.txt; 'make setup' installs them"
