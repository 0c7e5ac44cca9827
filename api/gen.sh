#!/bin/sh
# gen.sh regenerates the Go code of Breeze's protos. Run it through `go generate ./api/...`
# (or directly); with an argument it writes the generated files under that directory
# instead of in place, which verify.sh uses to compare.
#
# Tools: protoc from the system (Debian package protobuf-compiler; the generated files name
# the protoc version they were made with) and protoc-gen-go built from the
# google.golang.org/protobuf version pinned in go.mod, so every run uses the same generator.
set -eu

api_dir=$(cd "$(dirname "$0")" && pwd)
repo_root=$(dirname "$api_dir")
out_dir=${1:-$repo_root}

command -v protoc >/dev/null 2>&1 || {
	echo "gen.sh: protoc not found; install it with: apt-get install -y protobuf-compiler" >&2
	exit 1
}

tool_dir=$(mktemp -d)
trap 'rm -rf "$tool_dir"' EXIT INT TERM

# Build the plugin from the module graph of this repository: the version is go.mod's.
(cd "$repo_root" && go build -o "$tool_dir/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go)

# Import paths are relative to the repository root ("api/metaprotocol/v1alpha1/route.proto"),
# which keeps the registered file names unique to this module.
cd "$repo_root"
for dir in $(find api -name '*.proto' -exec dirname {} \; | sort -u); do
	protoc \
		--proto_path=. \
		--plugin=protoc-gen-go="$tool_dir/protoc-gen-go" \
		--go_out="$out_dir" \
		--go_opt=module=github.com/breeze-mesh/breeze \
		"$dir"/*.proto
done
