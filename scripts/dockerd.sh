#!/usr/bin/env bash
# Start a Docker daemon for CI when none answers, the way this machine allows: no bridge, no
# iptables (containers use --network host, so all traffic stays on loopback).
#   scripts/dockerd.sh start   → prints nothing, or "started dockerd (pid N)"; idempotent
#   scripts/dockerd.sh stop    → stops the daemon *this script* started (pid file), if any
set -euo pipefail
STATE=${PLUMB_CI_CACHE:-/var/cache/plumb-ci}
PIDFILE=$STATE/dockerd.pid
DOCKER=${DOCKER:-/usr/bin/docker}
mkdir -p "$STATE"

case "${1:-start}" in
start)
  if ! [ -x /usr/sbin/dockerd ] || ! [ -x /usr/bin/docker ]; then
    echo "installing docker.io"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  if "$DOCKER" info >/dev/null 2>&1; then
    exit 0  # someone's daemon answers: use it, and leave it running afterwards
  fi
  rm -f "$PIDFILE"
  setsid /usr/sbin/dockerd --bridge=none --iptables=false --ip6tables=false \
    >"$STATE/dockerd.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do
    if "$DOCKER" info >/dev/null 2>&1; then
      echo "started dockerd (pid $(cat "$PIDFILE"), log $STATE/dockerd.log)"
      exit 0
    fi
    sleep 1
  done
  echo "dockerd did not come up; its log:" >&2
  tail -20 "$STATE/dockerd.log" >&2
  exit 1
  ;;
stop)
  [ -s "$PIDFILE" ] || exit 0
  pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
  rm -f "$PIDFILE"
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
