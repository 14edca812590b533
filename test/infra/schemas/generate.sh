#!/usr/bin/env bash
# Regenerates the vendored KEDA CRD schemas (keda.sh/*.json) that test/infra/infra.test.ts gives kubeconform,
# from the CRDs shipped in the KEDA Go module (config/crd/bases), fetched from the Go module proxy.
# Run by hand when KEDA_VERSION changes (and update the version in infra/k8s/base/keda.yaml and
# infra/README.md); the tests themselves never go online.
set -euo pipefail
KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
dir="$(GOFLAGS=-mod=mod go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$dir/config/crd/bases" ] || { echo "KEDA module not found at '$dir'" >&2; exit 1; }
rm -rf "$here/keda.sh"
(cd "$root" && node --import tsx test/infra/crd-to-jsonschema.ts "$here" \
  "$dir/config/crd/bases/keda.sh_scaledobjects.yaml" \
  "$dir/config/crd/bases/keda.sh_triggerauthentications.yaml")
printf '%s\n' "github.com/kedacore/keda/v2@$KEDA_VERSION config/crd/bases" > "$here/keda.sh/SOURCE"
