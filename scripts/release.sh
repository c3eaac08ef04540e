#!/usr/bin/env bash
# Builds regtidy's release archives: every target below, with the version, commit and date
# stamped into the binary (`regtidy --version`), and a SHA256SUMS file over the archives.
#
#   scripts/release.sh v1.2.0          # archives and SHA256SUMS in dist/
#   scripts/release.sh --check         # build every target into a temporary directory, keep nothing
#
# Reproducible: -trimpath, no build ID, the commit's date as the date; CGO off (static binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

targets="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"

check=false
version=""
case "${1:-}" in
  --check) check=true; version="v0.0.0-check" ;;
  v*) version="$1" ;;
  *) echo "usage: scripts/release.sh vX.Y.Z | --check" >&2; exit 2 ;;
esac

commit=$(git rev-parse HEAD)
date=$(git log -1 --format=%cI HEAD)
if ! $check && [ -n "$(git status --porcelain)" ]; then
  echo "release: the working tree has uncommitted changes" >&2; exit 1
fi

if $check; then
  out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
else
  out=dist; rm -rf "$out"; mkdir -p "$out"
fi

ldflags="-s -w -buildid= -X main.version=${version} -X main.commit=${commit} -X main.date=${date}"
for target in $targets; do
  goos=${target%/*}; goarch=${target#*/}
  name="regtidy_${version#v}_${goos}_${goarch}"
  exe=regtidy; [ "$goos" = windows ] && exe=regtidy.exe
  mkdir -p "$out/$name"
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath -ldflags "$ldflags" -o "$out/$name/$exe" ./cmd/regtidy
  if $check; then
    echo "built $goos/$goarch: $(wc -c <"$out/$name/$exe") bytes"
    rm -rf "${out:?}/$name"
    continue
  fi
  cp LICENSE README.md "$out/$name/"
  if [ "$goos" = windows ]; then
    (cd "$out" && zip -qr "$name.zip" "$name")
  else
    tar -C "$out" --owner=0 --group=0 --mtime="$date" -czf "$out/$name.tar.gz" "$name"
  fi
  rm -rf "${out:?}/$name"
done

if ! $check; then
  (cd "$out" && sha256sum regtidy_* >SHA256SUMS)
  cat "$out/SHA256SUMS"
fi
