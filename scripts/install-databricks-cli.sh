#!/usr/bin/env bash
# Build the Databricks CLI (Go) from source into .venv/bin/databricks, fetching only from the Go module proxy.
# Used by tests/test_bundle_validate.py and tests/test_bundle_deploy.py; without it they skip. Needs Go >= 1.25.
# Takes about 3 minutes on 2 cores the first time (downloads + compile); later runs reuse Go's build cache.
#
#   scripts/install-databricks-cli.sh            # pinned version below
#   DATABRICKS_CLI_VERSION=0.298.0 scripts/install-databricks-cli.sh /some/bin
#
# Why not `go install github.com/databricks/cli@vX`: that also asks the proxy for the module's version list,
# which proxy.golang.org refuses for this module (403), so go install fails; `go mod download` of one pinned
# version works and is checked against sum.golang.org like any module download.
set -euo pipefail

VERSION="${DATABRICKS_CLI_VERSION:-0.298.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$ROOT/.venv/bin}"

command -v go >/dev/null || { echo "Go >= 1.25 is required to build the Databricks CLI" >&2; exit 1; }
mkdir -p "$DEST"
# Absolute: the build below runs from the module's folder, where a relative path would land elsewhere.
DEST="$(cd "$DEST" && pwd)"

# Outside any module, so `go mod download` fetches just this one module version.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
src="$(go mod download -json "github.com/databricks/cli@v$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$src" ] || { echo "could not download github.com/databricks/cli@v$VERSION" >&2; exit 1; }

# Stamp the version as the release build does; unstamped, the CLI reports 0.0.0-dev and only warns about
# (ignores) the bundle's databricks_cli_version constraint.
pkg=github.com/databricks/cli/internal/build
IFS=. read -r major minor patch <<<"$VERSION"
cd "$src"
CGO_ENABLED=0 go build -trimpath -o "$DEST/databricks" -ldflags "-s -w \
  -X $pkg.buildProjectName=cli -X $pkg.buildVersion=$VERSION -X $pkg.buildTag=v$VERSION \
  -X $pkg.buildMajor=$major -X $pkg.buildMinor=$minor -X $pkg.buildPatch=$patch -X $pkg.buildSummary=v$VERSION" .

"$DEST/databricks" --version
