#!/usr/bin/env bash
# Runs versitygw (POSIX backend) in the foreground as a local S3-compatible store for development.
# Everything comes from the environment (defaults in brackets):
#   MER_S3_DATA_DIR  folder holding buckets as sub-folders   [<repo>/.mer/s3/data]
#   MER_S3_HOST      listen address                         [127.0.0.1]
#   MER_S3_PORT      listen port                            [7070]
#   MER_S3_BUCKET    bucket created (as a folder) if absent [mer]
#   MER_S3_SIDECAR   1: keep metadata in <data>/../meta instead of xattrs (file systems without user xattrs)
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY  root keys; when unset, random keys are generated once and
#                    kept in <data>/../credentials.env (mode 600): `source` it in the shell that runs mer.
#   VERSITYGW_PATH   binary                                 [<repo>/.mer/tools/bin/versitygw]
# Then point a run config at it: store: { kind: s3, bucket: mer, endpoint: http://127.0.0.1:7070 }
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${VERSITYGW_PATH:-$root/.mer/tools/bin/versitygw}"
data="${MER_S3_DATA_DIR:-$root/.mer/s3/data}"
host="${MER_S3_HOST:-127.0.0.1}"
port="${MER_S3_PORT:-7070}"
bucket="${MER_S3_BUCKET:-mer}"
state="$(dirname "$data")"

if [ ! -x "$bin" ]; then
  echo "versitygw not found at $bin: run 'bash scripts/setup-tools.sh --test' or set VERSITYGW_PATH" >&2
  exit 1
fi
case "$bucket" in
  *[!a-z0-9.-]* | [.-]* | *[.-] ) echo "MER_S3_BUCKET '$bucket' is not a valid S3 bucket name" >&2; exit 1 ;;
esac

mkdir -p "$data/$bucket"   # the POSIX backend serves every top-level folder as a bucket

if [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
  creds="$state/credentials.env"
  if [ ! -f "$creds" ]; then
    (
      umask 077
      ak="MER$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F')"
      sk="$(head -c 30 /dev/urandom | base64 | tr '+/' '-_')"
      printf 'export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_REGION=us-east-1\n' "$ak" "$sk" > "$creds"
    )
    echo "[s3] generated root keys in $creds (source it where the SDK needs them)" >&2
  fi
  # shellcheck disable=SC1090
  . "$creds"
fi

args=(--port "$host:$port" --quiet posix)
if [ "${MER_S3_SIDECAR:-0}" = 1 ]; then
  mkdir -p "$state/meta"
  args+=(--sidecar "$state/meta")
fi
args+=("$data")

echo "[s3] versitygw on http://$host:$port, bucket '$bucket', data in $data" >&2
# Keys travel in the environment, not argv, so they do not show up in ps.
ROOT_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" ROOT_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" exec "$bin" "${args[@]}"
