# common.sh - sourced by the scripts in this folder: installs the Debian
# packages hive needs (only those missing) and builds into a folder.

set -euo pipefail
HIVE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# hive_install_packages PKG...: installs the missing ones with apt-get.
hive_install_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    -o DPkg::Lock::Timeout=300 "${missing[@]}"
}

# prometheus: its promtool checks the metrics hivectl prints (tests/test_admin.c),
# and its server scrapes a node (tests/inspector).
# python3-*: the Python client and its tests (clients/python), run by ctest.
# nats-server: the cluster tests start their own (tests/cluster_helpers.h).
HIVE_PACKAGES=(build-essential cmake pkg-config libck-dev libmsgpack-dev libcriterion-dev prometheus
  libnats-dev nats-server libmicrohttpd-dev
  libinih-dev libsystemd-dev libsqlite3-dev systemd
  python3-msgpack python3-pytest python3-pytest-asyncio)
# What only the tests need besides: the inspector page's browser test drives
# chromium through chromium-driver with python3-selenium (tests/inspector);
# stress-ng loads the machine in the stress runs.
HIVE_TEST_PACKAGES=(chromium chromium-driver python3-selenium stress-ng)

# hive_build DIR [CMAKE_ARGS...]: configures and builds hive into DIR.
hive_build() {
  local dir="$1"
  shift
  cmake -S "$HIVE_ROOT" -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}
