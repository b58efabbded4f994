#!/usr/bin/env bash
# check-unit.sh HIVE_JOBD - samples/jobd's deployment files hold together:
#  1. `systemd-analyze verify` finds nothing to say about jobd.service (a
#     copy whose ExecStart= runs HIVE_JOBD, since /usr/local/bin/hive-jobd
#     may not be installed);
#  2. every flag ExecStart= gives is one HIVE_JOBD takes (its --help);
#  3. HIVE_JOBD starts with hive-jobd.conf, says "ready", and stops with
#     status 0 at SIGTERM (a bad key in the file would stop it at start).
# Exits 0 if all hold, 1 if one does not, 77 (ctest's skip) without
# systemd-analyze. Needs no running systemd.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
unit="$here/jobd.service"
conf="$here/hive-jobd.conf"
if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH-TO-hive-jobd (an executable)" >&2
  exit 2
fi
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze not found"
  exit 77
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/check-unit.XXXXXX")"
jobd_pid=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  if [ -n "$jobd_pid" ] && kill -0 "$jobd_pid" 2>/dev/null; then
    kill -KILL "$jobd_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
status=0

# 1. systemd-analyze verify. It may also complain about the host's other
# units (those ours names, or broken ones of the machine): only lines about
# ours count. --recursive-errors=no keeps it to our unit where it is known.
sed "s#/usr/local/bin/hive-jobd#$bin#" "$unit" >"$tmp/hive-jobd.service"
if ! grep -q "^ExecStart=$bin " "$tmp/hive-jobd.service"; then
  echo "jobd.service: no ExecStart=/usr/local/bin/hive-jobd ... line to check" >&2
  exit 1
fi
opts=(--man=no)
help="$(systemd-analyze --help 2>&1 || true)"
grep -q -- '--generators' <<<"$help" && opts+=(--generators=no)
grep -q -- '--recursive-errors' <<<"$help" && opts+=(--recursive-errors=no)
out="$(systemd-analyze verify "${opts[@]}" "$tmp/hive-jobd.service" 2>&1 || true)"
ours="$(grep 'jobd\.service' <<<"$out" || true)"
if [ -n "$ours" ]; then
  echo "systemd-analyze verify: jobd.service:" >&2
  echo "$ours" >&2
  status=1
else
  echo "systemd-analyze verify: nothing to say about jobd.service"
fi

# 2. ExecStart='s flags against --help.
usage="$("$bin" --help)"
while read -r flag; do
  if ! grep -qE -- "^  $flag( |$)" <<<"$usage"; then
    echo "jobd.service: ExecStart= gives $flag, which $bin does not take" >&2
    status=1
  fi
done < <(grep '^ExecStart=' "$unit" | grep -oE -- '--[a-z][a-z-]*' | sort -u)
[ $status = 0 ] && echo "ExecStart=: every flag is one hive-jobd takes"

# 3. The sample config, as the unit uses it: the unit's own flags win over
# the file's (a scratch database and sockets, a test token, any free port).
echo "check-unit test token" >"$tmp/token"
"$bin" --config "$conf" --db "$tmp/jobd.db" --gateway-unix "$tmp/gateway.sock" \
  --admin-socket "$tmp/admin.sock" --token-file "$tmp/token" --gateway 127.0.0.1:0 \
  >"$tmp/log" 2>&1 &
jobd_pid=$!
for _ in $(seq 100); do
  grep -q 'msg="hive-jobd ready"' "$tmp/log" && break
  kill -0 "$jobd_pid" 2>/dev/null || break
  sleep 0.1
done
if grep -q 'msg="hive-jobd ready"' "$tmp/log"; then
  kill -TERM "$jobd_pid"
  rc=0
  wait "$jobd_pid" || rc=$?
  jobd_pid=""
  if [ $rc = 0 ]; then
    echo "hive-jobd.conf: hive-jobd starts with it and stops cleanly"
  else
    echo "hive-jobd.conf: hive-jobd exited with $rc at SIGTERM:" >&2
    cat "$tmp/log" >&2
    status=1
  fi
else
  echo "hive-jobd.conf: hive-jobd did not get ready with it:" >&2
  cat "$tmp/log" >&2
  status=1
fi
exit $status
