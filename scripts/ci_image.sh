#!/usr/bin/env bash
# CI, the image proof (issue 13): a Docker daemon (started here when none answers: no bridge,
# no iptables, every container on --network host), a Debian base built with debootstrap and
# cached, `make image` on it, then web, worker and beat containers against CI's PostgreSQL and
# Redis: /healthz 200, the browser logs in against the container, the processes are not root,
# the image holds no .git/.venv/.env/database file; docker-compose.yml is validated and run with
# tests/production/compose.host.yml. Everything it starts it stops (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER=${DOCKER:-/usr/bin/docker}  # Debian's client: BuildKit built in (no buildx needed)
PGHOST=${PGHOST:-127.0.0.1}
BASE=${PLUMB_BASE_IMAGE:-plumb-base:bookworm}
IMAGE=${PLUMB_CI_IMAGE:-plumb:ci}
PORT=${PLUMB_CI_IMAGE_PORT:-8766}
COMPOSE_PORT=${PLUMB_CI_COMPOSE_PORT:-8767}
DB="plumb_image_ci_$$"
CDB="plumb_compose_ci_$$"
TAG="plumb-ci-$$"
WORK=$(mktemp -d /tmp/plumb-image-ci.XXXXXX)
dockerd_started=""

say() { echo "== [image] $*"; }
compose() {
  SECRET_KEY=$SECRET_KEY PLUMB_IMAGE=$IMAGE PLUMB_CI_PORT=$COMPOSE_PORT \
  PLUMB_CI_DATABASE_URL="postgres://postgres@$PGHOST:5432/$CDB" \
  PLUMB_CI_REDIS_URL=redis://127.0.0.1:6379/12 DOCKER_HOST=unix:///var/run/docker.sock \
    docker-compose -p "$TAG" -f docker-compose.yml -f tests/production/compose.host.yml "$@"
}
cleanup() {
  local status=$?
  if [ $status -ne 0 ]; then
    for name in web worker beat; do
      echo "--- $TAG-$name"; "$DOCKER" logs --tail 30 "$TAG-$name" 2>&1 || true
    done
  fi
  for name in web worker beat; do "$DOCKER" rm -f "$TAG-$name" >/dev/null 2>&1 || true; done
  if command -v docker-compose >/dev/null && [ -n "${SECRET_KEY:-}" ]; then
    compose down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  for db in "$DB" "$CDB"; do
    psql -h "$PGHOST" -U postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  done
  [ -n "$dockerd_started" ] && scripts/dockerd.sh stop
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT

say "docker daemon"
out=$(scripts/dockerd.sh start)
if [ -n "$out" ]; then echo "$out"; case $out in started*) dockerd_started=yes ;; esac; fi
if ! "$DOCKER" info >/dev/null 2>&1; then echo "no Docker daemon answers"; exit 1; fi

say "base image $BASE (debootstrap, cached in ${PLUMB_CI_CACHE:-/var/cache/plumb-ci})"
t0=$(date +%s)
scripts/docker_base.sh "$BASE"
echo "base ready in $(( $(date +%s) - t0 )) s"

say "make image BASE_IMAGE=$BASE"
t0=$(date +%s)
make --no-print-directory image IMAGE="$IMAGE" BASE_IMAGE="$BASE" DOCKER="$DOCKER" \
  DOCKER_BUILD_FLAGS="--network=host --progress=plain" >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log"; exit 1; }
build_s=$(( $(date +%s) - t0 ))
# Each build step with its time (or CACHED), from BuildKit's plain progress.
awk '/^#[0-9]+ \[/ { sub(/^#[0-9]+ /, ""); step = substr($0, 1, 70) }
     /^#[0-9]+ (DONE|CACHED)/ && step != "" { print "  " $2 " " $3 "\t" step; step = "" }' "$WORK/build.log"
size=$("$DOCKER" image inspect "$IMAGE" --format '{{.Size}}')
cached=$(grep -c ' CACHED$' "$WORK/build.log" || true)
echo "built $IMAGE in ${build_s} s ($cached steps cached), $(( size / 1000000 )) MB"

say "the image runs as a user, not root, and holds no .git, .venv, .env or database file"
uid=$("$DOCKER" run --rm --network host "$IMAGE" id -u)
[ "$uid" != 0 ] || { echo "the image runs as root"; exit 1; }
echo "id -u: $uid"
found=$("$DOCKER" run --rm --network host "$IMAGE" sh -c \
  'find / -xdev \( -name .git -o -name .venv -o -name .env -o -name "*.sqlite3*" -o -name "*.dump" \) -print 2>/dev/null; ls -A /app/var')
[ -z "$found" ] || { echo "the image holds: $found"; exit 1; }
"$DOCKER" run --rm --network host "$IMAGE" sh -c 'test -w /app/var && ! test -w /app/manage.py' \
  || { echo "/app/var must be writable and the code not"; exit 1; }

say "web, worker and beat containers against CI's PostgreSQL and Redis"
psql -h "$PGHOST" -U postgres -qc "CREATE DATABASE $DB"
SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
env_file="$WORK/env"
cat >"$env_file" <<ENV
DEBUG=false
SECRET_KEY=$SECRET_KEY
ALLOWED_HOSTS=127.0.0.1,localhost
DATABASE_URL=postgres://postgres@$PGHOST:5432/$DB
REDIS_URL=redis://127.0.0.1:6379/11
PORT=$PORT
SECURE_SSL_REDIRECT=false
SESSION_COOKIE_SECURE=false
CSRF_COOKIE_SECURE=false
LOG_FORMAT=json
ENV
run() { "$DOCKER" run --network host --env-file "$env_file" "$@"; }
run --rm "$IMAGE" python manage.py migrate --noinput -v0
run --rm -e PLUMB_DEMO=true "$IMAGE" python manage.py seed_demo --password="$PASSWORD" >/dev/null
run -d --name "$TAG-web" --health-interval 3s "$IMAGE" >/dev/null
run -d --name "$TAG-worker" --no-healthcheck "$IMAGE" celery -A config worker -l INFO --concurrency 1 >/dev/null
run -d --name "$TAG-beat" --no-healthcheck "$IMAGE" celery -A config beat -l INFO >/dev/null
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 60); do curl -fsS "$URL/healthz" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS "$URL/healthz"; echo
for _ in $(seq 1 30); do
  health=$("$DOCKER" inspect --format '{{.State.Health.Status}}' "$TAG-web")
  [ "$health" = healthy ] && break; sleep 1
done
echo "web container HEALTHCHECK (/livez): $health"
[ "$health" = healthy ]
"$DOCKER" exec "$TAG-web" sh -c 'ps -o user= -p 1 2>/dev/null || id -un'

say "browser test against the container"
env -u DATABASE_URL -u REDIS_URL DEBUG=true PLUMB_PRODUCTION_URL="$URL" PLUMB_DEMO_PASSWORD="$PASSWORD" \
  .venv/bin/pytest -q -p no:cacheprovider tests/production
"$DOCKER" logs "$TAG-web" >"$WORK/web.log" 2>&1  # a file: grep -m1 on a pipe would SIGPIPE it
grep -m1 '"logger": "gunicorn.access"' "$WORK/web.log" \
  | python3 -c 'import json, sys; line = json.loads(sys.stdin.read()); assert line["request_id"] not in ("", "-"), line; print("JSON access log with request id:", line["request_id"])'

say "docker stop: web and worker shut down within 30 s"
t0=$(date +%s)
"$DOCKER" stop -t 30 "$TAG-web" "$TAG-worker" "$TAG-beat" >/dev/null
echo "stopped in $(( $(date +%s) - t0 )) s; exit codes: $("$DOCKER" inspect --format '{{.Name}}={{.State.ExitCode}}' "$TAG-web" "$TAG-worker" "$TAG-beat" | tr '\n' ' ')"
for name in web worker; do
  [ "$("$DOCKER" inspect --format '{{.State.ExitCode}}' "$TAG-$name")" = 0 ] || { echo "$name did not exit cleanly"; exit 1; }
done

if ! command -v docker-compose >/dev/null; then
  apt-get install -y -qq docker-compose >/dev/null 2>&1 || true
fi
if command -v docker-compose >/dev/null; then
  say "docker-compose.yml: valid, refuses a missing SECRET_KEY, runs (db/redis → the host's)"
  env -u SECRET_KEY docker-compose -f docker-compose.yml config -q 2>"$WORK/compose.err" \
    && { echo "compose accepted a missing SECRET_KEY"; exit 1; }
  grep -q "Set SECRET_KEY" "$WORK/compose.err"
  SECRET_KEY=$SECRET_KEY docker-compose -f docker-compose.yml config -q
  psql -h "$PGHOST" -U postgres -qc "CREATE DATABASE $CDB"
  # `run` (not `up`) for web: host networking and published ports do not mix.
  compose up -d --no-build worker beat 2>&1 | tail -n +1 >"$WORK/compose-up.log"
  [ "$("$DOCKER" inspect --format '{{.State.ExitCode}}' "${TAG}_migrate_1")" = 0 ]
  compose run -d --name "${TAG}_web_run" web >/dev/null
  for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$COMPOSE_PORT/healthz" >/dev/null 2>&1 && break; sleep 1; done
  curl -fsS "http://127.0.0.1:$COMPOSE_PORT/healthz"; echo
  t0=$(date +%s)
  compose down -v --remove-orphans >/dev/null 2>&1
  echo "compose stack up (migrate exited 0, web healthy) and down in $(( $(date +%s) - t0 )) s"
else
  say "docker-compose not available: compose file not run"
fi
say "ok: image $IMAGE $(( size / 1000000 )) MB, built in ${build_s} s"
