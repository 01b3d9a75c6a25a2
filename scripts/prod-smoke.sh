#!/usr/bin/env bash
# Builds the production form the container image ships (compiled dist/, production dependencies
# only, the native addon) in a scratch directory, exactly as the Dockerfile's runtime stage does,
# and runs weft from it: a runtime dependency that sits in devDependencies, or a file the image
# forgets, fails here. Checks that dist/ holds no test or bench code, that every module loads, and
# starts every subcommand: those that need a pod or a cluster must stop at their own WEFT_ERR_*
# configuration error, never at a missing module or a stack trace. Run after `npm run build` (CI
# runs it after `npm test`).
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
if [ -d node_modules/typescript ] || [ -d node_modules/tap ] || [ -d node_modules/eslint ]; then
  echo "prod-smoke: dev dependencies leaked into the production install" >&2
  exit 1
fi
fail() { echo "prod-smoke: FAIL: $*" >&2; exit 1; }

# dist/ is what the image ships: the production folders of tsconfig.build.json, no test or bench code.
leaked="$(find dist -path '*test*' -o -path '*bench*')"
[ -z "$leaked" ] || fail "dist/ holds test or bench files (a stale dist? rm -rf dist && npm run build):"$'\n'"$leaked"
production="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).include.join(" "))' "$root/tsconfig.build.json")"
for entry in dist/*; do
  case " $production " in *" ${entry#dist/} "*) ;; *) fail "dist/ holds ${entry#dist/}, which is no production folder ($production)" ;; esac
done
echo "prod-smoke: dist/ holds only $(ls dist | tr '\n' ' ')"

# Every module of dist/ loads with production dependencies only: a devDependency imported at run time
# fails here even in a module no subcommand below reaches. main.js is left out: importing it runs weft.
node --input-type=module -e '
  import { readdirSync } from "node:fs";
  import { join, resolve } from "node:path";
  import { pathToFileURL } from "node:url";
  const files = readdirSync("dist", { recursive: true }).map(String).filter((f) => f.endsWith(".js") && f !== join("cli", "main.js"));
  for (const f of files) await import(pathToFileURL(resolve("dist", f)).href);
  console.log(`prod-smoke: all ${files.length} modules of dist/ load`);
'

weft() { node "$scratch/dist/cli/main.js" "$@"; }

# Starts a subcommand that cannot run here (no pod environment, no cluster) with a clean
# environment plus the given VAR=value pairs, and asserts that it loaded its modules and stopped at
# its own configuration check: a non-zero exit with the expected WEFT_ERR_* text, no missing module,
# no stack trace. Usage: refuses 'expected regex' [VAR=value ...] -- <weft arguments>
refuses() {
  local expected="$1" vars=() out rc=0
  shift
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  out="$(timeout 60 env -i PATH="$PATH" HOME="$scratch" NODE_ENV=production "${vars[@]}" node "$scratch/dist/cli/main.js" "$@" 2>&1 </dev/null)" || rc=$?
  echo "prod-smoke: weft $* -> exit $rc: $(head -n 1 <<<"$out")"
  if grep -qE 'ERR_MODULE_NOT_FOUND|Cannot find (module|package)' <<<"$out"; then fail "weft $*: a module is missing from the production install:"$'\n'"$out"; fi
  if grep -qE '^\s+at .*:[0-9]+:[0-9]+\)?$|unexpected error' <<<"$out"; then fail "weft $*: crashed instead of refusing its configuration:"$'\n'"$out"; fi
  [ "$rc" -ne 0 ] || fail "weft $*: exited 0 where it should have refused to start"
  [ "$rc" -ne 124 ] || fail "weft $*: still running after 60 s where it should have refused to start"
  grep -qE "$expected" <<<"$out" || fail "weft $*: expected /$expected/ in:"$'\n'"$out"
}

echo "prod-smoke: weft --version"
weft --version | grep -E '^weft [0-9]+\.[0-9]+\.[0-9]+'

echo "prod-smoke: weft --help"
help="$(weft --help)"
for cmd in up proxy gateway ca destination init check injector inject await-proxy; do
  grep -qE "^  $cmd " <<<"$help" || fail "weft --help lists no $cmd subcommand:"$'\n'"$help"
done

# A kubeconfig that parses but names no usable server: the command loads @kubernetes/client-node
# (imported only for a kubeconfig) and then refuses with its own code, before any network use.
cat > kubeconfig <<'YAML'
apiVersion: v1
kind: Config
clusters: [{name: smoke, cluster: {server: "ftp://127.0.0.1:1"}}]
users: [{name: smoke, user: {token: smoke}}]
contexts: [{name: smoke, context: {cluster: smoke, user: smoke}}]
current-context: smoke
YAML
kube_refused='WEFT_ERR_KUBE_CONFIG: .*is not an http\(s\) URL'

# The sidecar outside a pod: its settings are missing.
refuses 'WEFT_ERR_CONFIG: invalid configuration' -- proxy
refuses "$kube_refused" KUBECONFIG="$scratch/kubeconfig" -- gateway
refuses 'WEFT_ERR_KUBE_CONFIG: no cluster configured' -- gateway
refuses "$kube_refused" KUBECONFIG="$scratch/kubeconfig" -- ca
refuses "$kube_refused" KUBECONFIG="$scratch/kubeconfig" -- destination
refuses "WEFT_ERR_SERVING_CERT: cannot read $scratch/no-tls/tls.crt" WEFT_INJECTOR_TLS_DIR="$scratch/no-tls" -- injector
refuses "$kube_refused" KUBECONFIG="$scratch/kubeconfig" -- check
# Nothing listens on port 1: await-proxy gives up after its timeout, with its own message.
refuses 'weft await-proxy: WEFT_ERR_NOT_READY: http://127.0.0.1:1/ready was not ready within 1 s' -- await-proxy --url http://127.0.0.1:1/ready --timeout-seconds 1

# The observation commands read the mesh file `weft up` ran; without one they refuse with its code.
no_mesh="WEFT_ERR_MESH_FILE: cannot read $scratch/no-mesh.yaml"
refuses "$no_mesh" -- stat -f "$scratch/no-mesh.yaml"
refuses "$no_mesh" -- top -f "$scratch/no-mesh.yaml"
refuses "$no_mesh" -- tap -f "$scratch/no-mesh.yaml"
refuses "$no_mesh" -- dashboard -f "$scratch/no-mesh.yaml"

echo "prod-smoke: weft check --help"
weft check --help | grep -q '^  weft check ' || fail "weft check --help printed no usage"

# Only the dry run: `weft init` without it rewrites this machine's own nat table.
echo "prod-smoke: weft init --dry-run"
rules="$(weft init --dry-run)"
grep -q '^\*nat$' <<<"$rules" && grep -q 'REDIRECT --to-ports 7001' <<<"$rules" && grep -q '^COMMIT$' <<<"$rules" \
  || fail "weft init --dry-run printed no nat rules:"$'\n'"$rules"

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
grep -q 'WEFT_TRUST_ANCHORS' out.yaml || fail "weft inject wrote no trust anchors"
grep -q 'weft.dev/injected' out.yaml || fail "weft inject did not inject:"$'\n'"$(cat out.yaml)"
grep -q 'weft-init' out.yaml || fail "weft inject added no weft-init"

echo "prod-smoke: weft authz explain"
cat > policy.yaml <<'YAML'
apiVersion: policy.weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: admin-only, namespace: demo}
spec:
  action: ALLOW
  rules:
    - from: {serviceAccounts: [admin]}
YAML
weft authz explain -f policy.yaml --identity spiffe://cluster.local/ns/demo/sa/intruder --namespace demo --port 8080 --method GET --path /admin > explain.txt 2>&1 || true
grep -qi 'den' explain.txt || fail "weft authz explain did not deny an intruder:"$'\n'"$(cat explain.txt)"

echo "prod-smoke: weft up --check"
weft up --check
echo "prod-smoke: ok (production install in $scratch: $(du -sh node_modules | cut -f1) of node_modules)"
