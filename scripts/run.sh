#!/usr/bin/env bash
# The body of `make run`: a local Redis, migrations, demo data on an empty database, then every
# Procfile process (web, worker, cron, sandbox) under honcho.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export FLASK_APP="${FLASK_APP:-gateway}"
export PORT="${PORT:-5000}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export SANDBOX_URL="${SANDBOX_URL:-http://127.0.0.1:5055}"
# The sandbox answers at once; a long code would send about 1 segment a second.
export SEND_RATE_SEGMENTS_PER_S="${SEND_RATE_SEGMENTS_PER_S:-10}"
export CALLS_PER_S="${CALLS_PER_S:-2}"
# Readable lines under honcho; production logs one JSON object a line (the default).
export LOG_FORMAT="${LOG_FORMAT:-text}"
# Twilio signs webhooks against the public URL; locally that is the web process itself.
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$PORT}"
# Procfile lines call gunicorn, rq and flask by bare name.
export PATH="$PWD/.venv/bin:$PATH"

redis_answers() { [ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" = "PONG" ]; }

if ! redis_answers; then
  # redis://[user:password@]host[:port][/db]
  hostport="${REDIS_URL#*://}"
  hostport="${hostport##*@}"
  hostport="${hostport%%/*}"
  host="${hostport%%:*}"
  port=6379
  if [ "$hostport" != "$host" ]; then port="${hostport##*:}"; fi
  case "$host" in
    127.0.0.1 | localhost) ;;
    *)
      echo "run: Redis at $REDIS_URL does not answer, and it is not local to start" >&2
      exit 1
      ;;
  esac
  mkdir -p var/redis
  echo "run: starting redis-server on 127.0.0.1:$port (data in var/redis)"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/var/redis" --daemonize yes \
    --pidfile "$PWD/var/redis/redis.pid" --logfile "$PWD/var/redis/redis.log"
  deadline=$((SECONDS + 10))
  until redis_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "run: redis-server did not answer PING; see var/redis/redis.log" >&2
      exit 1
    fi
    sleep 0.1
  done
fi

.venv/bin/flask db upgrade
.venv/bin/flask demo --if-empty

echo
echo "Admin: http://127.0.0.1:$PORT/admin/"
.venv/bin/flask demo logins
echo

exec .venv/bin/honcho start -f Procfile
