#!/usr/bin/env bash
# CI, the production proof on the host (issue 13): a fresh virtualenv with the runtime
# dependencies only, collectstatic, check --deploy, then gunicorn -c gunicorn.conf.py with
# DEBUG=false, a real Celery worker and beat on PostgreSQL + Redis; a browser test against it;
# SIGTERM: web and worker exit within 30 s; backup → restore → same rows on PostgreSQL and SQLite.
# Everything it starts it stops (trap); it uses a throw-away database and Redis db 13.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PGHOST=${PGHOST:-127.0.0.1}
PORT=${PLUMB_CI_PORT:-8765}
DB="plumb_prod_ci_$$"
WORK=$(mktemp -d /tmp/plumb-prod-ci.XXXXXX)
declare -A PIDS=()

say() { echo "== [production] $*"; }
cleanup() {
  local status=$?
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
  sleep 1
  for name in "${!PIDS[@]}"; do kill -KILL "${PIDS[$name]}" 2>/dev/null || true; done
  for db in "$DB" "${DB}_restored"; do
    psql -h "$PGHOST" -U postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  done
  if [ $status -ne 0 ]; then  # show what the servers said
    for log in "$WORK"/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -40 "$log"; }; done
  fi
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT

say "fresh virtualenv, runtime dependencies only (no dev extras)"
mkdir "$WORK/src" && cp pyproject.toml README.md "$WORK/src/"  # build outside the work tree
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet "$WORK/src" 2>"$WORK/pip.log" || { cat "$WORK/pip.log"; exit 1; }
if "$WORK/venv/bin/python" -c "import pytest" 2>/dev/null; then echo "dev packages leaked in"; exit 1; fi
PY="$WORK/venv/bin/python"

psql -h "$PGHOST" -U postgres -qc "CREATE DATABASE $DB"
PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
export DEBUG=false
export SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
export ALLOWED_HOSTS=127.0.0.1,localhost
export DATABASE_URL="postgres://postgres@$PGHOST:5432/$DB"
export REDIS_URL=redis://127.0.0.1:6379/13
export PLUMB_VAR_DIR="$WORK/var" STATIC_ROOT="$WORK/static" PORT WEB_CONCURRENCY=2
unset PLUMB_DEMO

say "check --deploy (HTTPS settings as behind the TLS proxy)"
"$PY" manage.py check --deploy --fail-level WARNING
say "collectstatic (manifest storage, gzip + brotli)"
"$PY" manage.py collectstatic --noinput -v0
compgen -G "$STATIC_ROOT/vendor/chartjs/chart.umd.min.*.js.br" >/dev/null  # hashed + brotli
say "migrate; demo data refused without PLUMB_DEMO, then seeded explicitly"
"$PY" manage.py migrate --noinput -v0
if "$PY" manage.py seed_demo >"$WORK/seed-refused.log" 2>&1; then echo "seed_demo ran without PLUMB_DEMO"; exit 1; fi
grep -q "PLUMB_DEMO=true" "$WORK/seed-refused.log"
PLUMB_DEMO=true "$PY" manage.py seed_demo --password="$PASSWORD" >"$WORK/seed.log"

# The browser speaks plain HTTP to 127.0.0.1 here; behind the proxy these stay on.
export SECURE_SSL_REDIRECT=false SESSION_COOKIE_SECURE=false CSRF_COOKIE_SECURE=false
say "start gunicorn -c gunicorn.conf.py, a Celery worker and beat (DEBUG=false)"
"$WORK/venv/bin/gunicorn" -c gunicorn.conf.py >"$WORK/web.log" 2>&1 &
PIDS[web]=$!
"$WORK/venv/bin/celery" -A config worker -l INFO --concurrency 1 -n "ci-prod-$$@%h" >"$WORK/worker.log" 2>&1 &
PIDS[worker]=$!
"$WORK/venv/bin/celery" -A config beat -l INFO --schedule "$WORK/var/celerybeat-schedule" >"$WORK/beat.log" 2>&1 &
PIDS[beat]=$!
started=$(date +%s)
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 60); do curl -fsS "$URL/livez" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS "$URL/healthz"; echo

say "a forged X-Forwarded-Proto from a client is not HTTPS (no trusted proxy configured)"
"$PY" - "$URL" <<'PYEOF'
import http.cookiejar, re, sys, urllib.error, urllib.parse, urllib.request
url = sys.argv[1]
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
html = opener.open(f"{url}/login/").read().decode()
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": "x", "password": "y"})
# Over HTTPS Django would demand a Referer and refuse this POST (403); over HTTP it is checked
# as a login (200, wrong password).
request = urllib.request.Request(f"{url}/login/", body.encode(), headers={"X-Forwarded-Proto": "https"})
try:
    status = opener.open(request).status
except urllib.error.HTTPError as error:
    status = error.code
assert status == 200, f"forged X-Forwarded-Proto was believed (status {status})"
print("forged header ignored")
PYEOF

say "browser test against the production server (rep1: board drag; manager1: forecast; static files)"
env -u DATABASE_URL -u REDIS_URL -u PLUMB_VAR_DIR -u STATIC_ROOT DEBUG=true \
  PLUMB_PRODUCTION_URL="$URL" PLUMB_DEMO_PASSWORD="$PASSWORD" \
  "$ROOT/.venv/bin/pytest" -q -p no:cacheprovider tests/production

say "worker and beat are alive: /healthz reports a minute sweep (beat's first one comes after ~60 s)"
alive=""
for _ in $(seq 1 120); do
  case $(curl -fsS "$URL/healthz" 2>/dev/null || true) in *'"workers": "ok"'*) alive=yes; break ;; esac
  sleep 1
done
curl -fsS "$URL/healthz"; echo
[ -n "$alive" ] || { echo "no minute sweep ran within $(( $(date +%s) - started )) s"; exit 1; }

say "SIGTERM: web and worker exit cleanly within 30 s"
for name in web worker beat; do kill -TERM "${PIDS[$name]}"; done
t0=$(date +%s)
for name in web worker beat; do
  code=0
  wait "${PIDS[$name]}" || code=$?
  unset "PIDS[$name]"
  took=$(( $(date +%s) - t0 ))
  echo "$name exited with $code after ${took}s"
  [ "$code" = 0 ] && [ "$took" -le 30 ] || { echo "$name did not shut down cleanly"; exit 1; }
done

compare() {  # compare URL_A URL_B: same tables, same rows
  DJANGO_SETTINGS_MODULE=config.settings "$PY" - "$1" "$2" <<'PYEOF'
import sys
import django
django.setup()
from crm.backup import fingerprint
a, b = fingerprint(sys.argv[1]), fingerprint(sys.argv[2])
assert a == b, sorted(set(a.items()) ^ set(b.items()))[:5]
print(f"same {len(a)} tables, {sum(n for n, _ in a.values())} rows")
PYEOF
}

say "backup → restore into a new database → same rows (PostgreSQL, pg_dump/pg_restore)"
dump=$("$PY" manage.py backup --directory "$WORK/backups")
psql -h "$PGHOST" -U postgres -qc "CREATE DATABASE ${DB}_restored"
"$PY" manage.py restore_backup "$dump" --into "postgres://postgres@$PGHOST:5432/${DB}_restored"
compare "$DATABASE_URL" "postgres://postgres@$PGHOST:5432/${DB}_restored"

say "backup → restore → same rows (SQLite, online backup API while in WAL mode)"
(
  unset DATABASE_URL REDIS_URL
  export PLUMB_VAR_DIR="$WORK/sqlite-var"
  "$PY" manage.py migrate --noinput -v0
  PLUMB_DEMO=true "$PY" manage.py seed_demo --password="$PASSWORD" >/dev/null
  copy=$("$PY" manage.py backup)
  "$PY" manage.py restore_backup "$copy" --into "sqlite:///$WORK/restored.sqlite3"
  compare "sqlite:///$PLUMB_VAR_DIR/crm.sqlite3" "sqlite:///$WORK/restored.sqlite3"
)
say "ok ($(( $(date +%s) - started )) s since the servers started)"
