#!/bin/bash
# Install evse as a systemd service on Raspberry Pi OS bookworm (Debian 12, Python 3.11).
#
#   sudo deploy/install.sh --wheel dist/evse-0.1.0-py3-none-any.whl [--config config/cm4.yaml]
#                          [--wheelhouse DIR] [--no-enable] [--dry-run]
#
# What it does, in order:
#   1. apt: python3-venv (bookworm's python3 is 3.11) and can-utils (candump for bring-up);
#   2. a system user `evse` (groups dialout for the MCU UART / Modbus RTU);
#   3. a venv in /opt/evse/venv, the wheel (and its dependencies, from --wheelhouse when the
#      board is offline) installed into it;
#   4. bytecode compiled once for every module of the venv (the unit sets
#      PYTHONDONTWRITEBYTECODE=1, so nothing is compiled at start-up: issue 13 item 6);
#   5. the config in /etc/evse/station.yaml (an existing one is kept unless --force-config),
#      docs/mcu_protocol.md in /opt/evse/share/doc;
#   6. deploy/evse.service in /etc/systemd/system, daemon-reload, enable (not start: the
#      operator starts it once the config names the real devices).
# --dry-run prints every command instead of running it (used by the test suite).
set -euo pipefail

PREFIX=/opt/evse
ETC=/etc/evse
UNIT_DIR=/etc/systemd/system
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(dirname "$HERE")"
WHEEL=""
CONFIG="$SRC/config/station.yaml"
WHEELHOUSE=""
ENABLE=1
DRY=0
FORCE_CONFIG=0

die() { echo "install.sh: $*" >&2; exit 2; }
run() {
    if [ "$DRY" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}

while [ $# -gt 0 ]; do
    case "$1" in
        --wheel) WHEEL="$2"; shift 2 ;;
        --config) CONFIG="$2"; shift 2 ;;
        --wheelhouse) WHEELHOUSE="$2"; shift 2 ;;
        --no-enable) ENABLE=0; shift ;;
        --force-config) FORCE_CONFIG=1; shift ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown argument $1" ;;
    esac
done

[ -n "$WHEEL" ] || die "--wheel PATH is required (build it with: python3 -m pip wheel --no-deps -w dist .)"
[ -f "$WHEEL" ] || die "no such wheel: $WHEEL"
[ -f "$CONFIG" ] || die "no such config: $CONFIG"
[ "$DRY" = 1 ] || [ "$(id -u)" = 0 ] || die "run as root (sudo)"

if [ "$DRY" = 0 ] && [ -r /etc/os-release ]; then
    . /etc/os-release
    [ "${VERSION_CODENAME:-}" = bookworm ] || echo "install.sh: warning: made for bookworm, this is ${PRETTY_NAME:-unknown}" >&2
fi

# 1. packages
run apt-get install -y --no-install-recommends python3-venv can-utils

# 2. user
if ! id evse >/dev/null 2>&1; then
    run adduser --system --group --home /var/lib/evse --no-create-home evse
fi
run usermod -a -G dialout evse

# 3. venv + wheel
run python3 -m venv "$PREFIX/venv"
PIP=("$PREFIX/venv/bin/python" -m pip install --no-input --upgrade)
if [ -n "$WHEELHOUSE" ]; then
    PIP+=(--no-index --find-links "$WHEELHOUSE")
fi
run "${PIP[@]}" "$WHEEL"

# 4. bytecode, once, for everything in the venv (the service never writes .pyc)
run "$PREFIX/venv/bin/python" -m compileall -q -j 0 "$PREFIX/venv/lib"

# 5. config and docs
run install -d -m 0750 -o root -g evse "$ETC"
if [ "$FORCE_CONFIG" = 1 ] || [ ! -e "$ETC/station.yaml" ]; then
    run install -m 0640 -o root -g evse "$CONFIG" "$ETC/station.yaml"
else
    echo "install.sh: keeping existing $ETC/station.yaml (use --force-config to replace)"
fi
run install -d "$PREFIX/share/doc"
run install -m 0644 "$SRC/docs/mcu_protocol.md" "$PREFIX/share/doc/mcu_protocol.md"

# 6. unit
run install -m 0644 "$HERE/evse.service" "$UNIT_DIR/evse.service"
run systemctl daemon-reload
if [ "$ENABLE" = 1 ]; then
    run systemctl enable evse.service
fi
echo "install.sh: installed; start with: systemctl start evse && journalctl -fu evse"
