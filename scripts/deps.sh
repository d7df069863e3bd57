#!/usr/bin/env bash
# Installs what builds and tests need on a fresh Debian machine, and starts
# PostgreSQL. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get -o DPkg::Lock::Timeout=600 update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}

# GDAL: analysis-svc reads rasters through it (cgo).
if ! pkg-config --exists gdal 2>/dev/null; then
  log "installing GDAL (libgdal-dev) from Debian"
  apt_install libgdal-dev pkg-config
fi

# Node.js and npm: the TypeScript SDK is generated and tested with them
# (this machine kind ships Node.js 20; Debian's is older but works).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing Node.js and npm from Debian"
  apt_install nodejs npm
fi

# PostgreSQL on 127.0.0.1:5432 with trust auth, the machine's default.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    log "installing PostgreSQL from Debian"
    apt_install postgresql postgresql-client
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  log "starting PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    # A fresh Debian cluster uses peer/scram for TCP; tests expect trust on loopback.
    hba=/etc/postgresql/$ver/main/pg_hba.conf
    log "allowing trust auth on loopback in $hba"
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
  fi
fi
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }

# Pinned Go tools (buf and plugins, grpcurl, staticcheck, versitygw) into .bin/.
need_tools=
[ -n "${SKIP_TOOLS:-}" ] && exit 0
for t in buf protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2 grpcurl staticcheck versitygw; do
  [ -x ".bin/$t" ] || need_tools=1
done
if [ -n "$need_tools" ] || [ tools/go.mod -nt .bin/buf ]; then
  log "building pinned tools into .bin/ (about 2-4 minutes the first time)"
  make -s tools
fi
