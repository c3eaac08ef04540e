#!/usr/bin/env bash
# Installs the regtidy the action runs, for the action's composite step "Install regtidy":
#  - REGTIDY_BIN, if set, is used as it is (tests);
#  - a release tag (REGTIDY_VERSION=vX.Y.Z) downloads that release's archive for this runner and
#    checks it against the release's SHA256SUMS;
#  - anything else (a branch or a commit as the action's ref) builds from the action's own source
#    (REGTIDY_SOURCE), at exactly the ref the workflow named.
# The directory holding regtidy is added to GITHUB_PATH for the steps after this one.
set -euo pipefail

bindir="${RUNNER_TEMP:-$(mktemp -d)}/regtidy-bin"
mkdir -p "$bindir"

if [ -n "${REGTIDY_BIN:-}" ]; then
  ln -sf "$REGTIDY_BIN" "$bindir/regtidy"
elif [[ "${REGTIDY_VERSION:-}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  case "$(uname -m)" in x86_64|amd64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) echo "::error::regtidy: no release for $(uname -m)"; exit 1 ;; esac
  archive="regtidy_${REGTIDY_VERSION#v}_${os}_${arch}.tar.gz"
  base="https://github.com/regtidy/regtidy/releases/download/${REGTIDY_VERSION}"
  tmp=$(mktemp -d)
  curl -fsSL --retry 3 -o "$tmp/$archive" "$base/$archive"
  curl -fsSL --retry 3 -o "$tmp/SHA256SUMS" "$base/SHA256SUMS"
  (cd "$tmp" && grep " ${archive}\$" SHA256SUMS | sha256sum -c -)
  tar -xzf "$tmp/$archive" -C "$tmp"
  mv "$tmp/${archive%.tar.gz}/regtidy" "$bindir/regtidy"
  rm -rf "$tmp"
else
  src="${REGTIDY_SOURCE:?REGTIDY_SOURCE names the source directory of the action}"
  ref="${REGTIDY_VERSION:-}"
  CGO_ENABLED=0 go build -C "$src" -trimpath -ldflags "-s -w -X main.version=${ref:-(devel)}" -o "$bindir/regtidy" ./cmd/regtidy
fi

"$bindir/regtidy" --version
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$bindir" >>"$GITHUB_PATH"
fi
