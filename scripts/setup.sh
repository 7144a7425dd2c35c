#!/usr/bin/env bash
# One-time (and idempotent) set-up shared by scripts/run and scripts/test: system packages
# with apt when missing, the virtualenv, the project and its compiled translations.
# Usage: scripts/setup.sh [--test]   (--test also installs what the test suite needs)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

need=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
"$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
# the egress proxy verifies https upstreams against the system's CA store
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if [ "$want_test" = 1 ]; then
    command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    # the deployment kit's files are checked by their own tools (tests/deploy)
    command -v nginx >/dev/null 2>&1 || need+=(nginx)
    command -v promtool >/dev/null 2>&1 || need+=(prometheus)
    command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
    command -v openssl >/dev/null 2>&1 || need+=(openssl)  # self-signed certs (TLS tests)
fi
if [ "${#need[@]}" -gt 0 ]; then
    echo "setup: installing system packages: ${need[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "setup: need root to install ${need[*]} (or install them yourself)" >&2
        exit 1
    fi
    # wait for another apt run (a second checkout setting up at the same time) instead of failing
    apt_wait=(-o DPkg::Lock::Timeout=600)
    apt-get "${apt_wait[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null
    # The tests run nginx and Prometheus themselves, on loopback with their own configs; the
    # system services Debian enables with the packages are not wanted on a test machine.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        for unit in nginx prometheus; do
            if [[ " ${need[*]} " == *" $unit "* ]]; then
                systemctl disable --now "$unit" >/dev/null 2>&1 || true
            fi
        done
    fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.sattva-installed
extra=""
[ "$want_test" = 1 ] && extra="[dev]"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! grep -qx "$extra" "$stamp"; then
    echo "setup: installing the project into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".$extra"
    # the stamp remembers the widest install made, so run after test does not reinstall
    if [ "$want_test" = 1 ] || [ ! -f "$stamp" ]; then echo "$extra" > "$stamp"; fi
fi

# Compiled catalogues are build products, never committed.
if compgen -G "locales/*/LC_MESSAGES/*.po" >/dev/null; then
    out=$(.venv/bin/pybabel compile -d locales -D messages 2>&1) || { echo "$out" >&2; exit 1; }
fi
