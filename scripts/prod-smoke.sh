#!/usr/bin/env bash
# Builds the production form the container image ships (compiled dist/, production dependencies
# only, the native addon) in a scratch directory, exactly as the Dockerfile's runtime stage does,
# and runs weft from it: a runtime dependency that sits in devDependencies, or a file the image
# forgets, fails here. Run after `npm run build` (CI runs it after `npm test`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d -t weft-prod-XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
cd "$root"
[ -f dist/cli/main.js ] || { echo "prod-smoke: dist/ is missing; run npm run build first" >&2; exit 1; }

# The same file list as the Dockerfile's runtime stage.
cp -R dist package.json package-lock.json examples "$scratch/"
if [ -f build/native/original_dst.node ]; then
  mkdir -p "$scratch/build/native" && cp build/native/original_dst.node "$scratch/build/native/"
else
  echo "prod-smoke: build/native/original_dst.node is missing (opaque TCP capture will be unavailable)" >&2
fi
cd "$scratch"
# --ignore-scripts: the image copies the addon built in the build stage instead of compiling it.
npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
if [ -d node_modules/typescript ] || [ -d node_modules/tap ]; then
  echo "prod-smoke: dev dependencies leaked into the production install" >&2
  exit 1
fi
weft() { node "$scratch/dist/cli/main.js" "$@"; }

echo "prod-smoke: weft --version"
weft --version | grep -E '^weft [0-9]+\.[0-9]+\.[0-9]+' 

if weft --help | grep -qE '^  inject '; then
  echo "prod-smoke: weft inject"
  cat > in.yaml <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}, annotations: {weft.dev/inject: enabled}}
    spec:
      containers:
        - name: web
          image: nginx
          ports: [{containerPort: 8080}]
YAML
  # The proxy gets the trust anchors inline (WEFT_TRUST_ANCHORS); any P-256 root will do here.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -out root.pem -days 1 -subj /CN=prod-smoke 2>/dev/null
  weft inject --trust-anchors root.pem -f in.yaml > out.yaml
  grep -q 'WEFT_TRUST_ANCHORS' out.yaml || { echo "prod-smoke: weft inject wrote no trust anchors" >&2; exit 1; }
  grep -q 'weft.dev/injected' out.yaml || { echo "prod-smoke: weft inject did not inject:" >&2; cat out.yaml >&2; exit 1; }
  grep -q 'weft-init' out.yaml || { echo "prod-smoke: weft inject added no weft-init" >&2; exit 1; }
else
  echo "prod-smoke: SKIP weft inject: this build has no inject subcommand yet (the injector has not landed)"
fi

echo "prod-smoke: weft up --check"
weft up --check
echo "prod-smoke: ok (production install in $scratch: $(du -sh node_modules | cut -f1) of node_modules)"
