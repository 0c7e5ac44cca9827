#!/bin/sh
# verify.sh fails when the committed Go code under api/ differs from what gen.sh generates
# from the .proto files: run it in CI, and run `go generate ./api/...` to fix a failure.
set -eu

api_dir=$(cd "$(dirname "$0")" && pwd)
repo_root=$(dirname "$api_dir")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT INT TERM

"$api_dir/gen.sh" "$scratch"

status=0
cd "$repo_root"
# Every generated file must match, and every committed .pb.go must still have a source.
for f in $(cd "$scratch" && find api -name '*.pb.go' | sort); do
	if ! cmp -s "$scratch/$f" "$f"; then
		echo "verify.sh: $f is out of date" >&2
		diff -u "$f" "$scratch/$f" >&2 || true
		status=1
	fi
done
for f in $(find api -name '*.pb.go' | sort); do
	if [ ! -f "$scratch/$f" ]; then
		echo "verify.sh: $f has no .proto source any more" >&2
		status=1
	fi
done
if [ "$status" -ne 0 ]; then
	echo "verify.sh: run 'go generate ./api/...' and commit the result" >&2
fi
exit "$status"
