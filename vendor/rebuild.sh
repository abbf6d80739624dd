#!/usr/bin/env bash
# Rebuild vendor/regorus from the crate published on crates.io and the patches
# in vendor/patches/ (applied in name order), trimmed the way the vendored copy
# is (see vendor/README.md).
#
#   bash vendor/rebuild.sh                    check: the result must equal vendor/regorus
#   bash vendor/rebuild.sh --write            replace vendor/regorus with the result
#   bash vendor/rebuild.sh --version X.Y.Z    use another regorus release (with --check
#                                             or --write); reports each patch that fails
#   bash vendor/rebuild.sh --full DIR         write the patched crate untrimmed (its own
#                                             tests included) to DIR, a new directory; stops
#                                             at the first patch that fails to apply
#
# Needs bash, tar, gzip, sha256sum (coreutils), one of curl / wget / python3 to
# download, and one of patch / git to apply the patches. Works from any directory.
set -euo pipefail

# The release vendor/regorus is built from, and the sha256 of its .crate file
# (the same as the "cksum" crates.io's index lists for it).
PINNED_VERSION=0.14.1
PINNED_SHA256=ec9c3ac0d614c8f87448b86c8ddef36c8affce3d2c5deea81b7c28c812e4bfb8

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

mode=check
version=$PINNED_VERSION
while [ $# -gt 0 ]; do
    case "$1" in
        --check) mode=check ;;
        --write) mode=write ;;
        --full)
            [ $# -ge 2 ] || usage
            mode=full
            full_dir=$2
            shift
            ;;
        --version)
            [ $# -ge 2 ] || usage
            version=$2
            shift
            ;;
        --version=*) version=${1#--version=} ;;
        -h | --help) usage ;;
        *)
            echo "rebuild.sh: unknown argument: $1" >&2
            usage
            ;;
    esac
    shift
done
case "$version" in
    [0-9]*.[0-9]*.[0-9]*) ;;
    *)
        echo "rebuild.sh: --version wants X.Y.Z, got '$version'" >&2
        exit 2
        ;;
esac

if [ "$mode" = full ] && [ -e "$full_dir" ] && [ -n "$(ls -A "$full_dir")" ]; then
    echo "rebuild.sh: --full: $full_dir exists and is not empty" >&2
    exit 2
fi

vendor_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest=$vendor_dir/regorus
patch_dir=$vendor_dir/patches

tmp=$(mktemp -d "${TMPDIR:-/tmp}/regorus-rebuild.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

say() { echo "rebuild.sh: $*"; }
die() {
    echo "rebuild.sh: $*" >&2
    exit 1
}

# --- 1. The .crate file: cargo's download cache if it has it, else crates.io.
crate_file=$tmp/regorus-$version.crate
cached=""
for f in "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/regorus-"$version".crate; do
    [ -f "$f" ] && cached=$f && break
done

fetch() { # url out
    if command -v curl >/dev/null 2>&1; then
        curl -sSfL --retry 2 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
    elif command -v python3 >/dev/null 2>&1; then
        python3 - "$1" "$2" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"User-Agent": "signalbox-vendor-rebuild"})
with urllib.request.urlopen(req, timeout=120) as r, open(sys.argv[2], "wb") as f:
    f.write(r.read())
PY
    else
        die "need curl, wget or python3 to download from crates.io"
    fi
}

if [ -n "$cached" ]; then
    say "regorus $version from cargo's cache ($cached)"
    cp "$cached" "$crate_file"
else
    say "downloading regorus $version from crates.io"
    fetch "https://static.crates.io/crates/regorus/regorus-$version.crate" "$crate_file" ||
        fetch "https://crates.io/api/v1/crates/regorus/$version/download" "$crate_file" ||
        die "could not download regorus $version"
fi

# --- 2. Its sha256.
sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}
actual_sha=$(sha256 "$crate_file")
if [ "$version" = "$PINNED_VERSION" ]; then
    [ "$actual_sha" = "$PINNED_SHA256" ] ||
        die "sha256 of regorus-$version.crate is $actual_sha, pinned $PINNED_SHA256: not the published crate"
    say "sha256 matches the pin ($PINNED_SHA256)"
else
    say "no sha256 pinned for $version (the pin is for $PINNED_VERSION): pin check skipped"
    # Cargo.lock cannot help: it lists the patched path copy, without a checksum.
    # crates.io's index can: it lists each release's sha256 ("cksum").
    index_line=""
    if fetch "https://index.crates.io/re/go/regorus" "$tmp/index" 2>/dev/null; then
        index_line=$(grep -E "\"vers\": *\"$version\"" "$tmp/index" || true)
    fi
    index_sha=$(printf '%s' "$index_line" | grep -oE '"cksum": *"[0-9a-f]{64}"' | grep -oE '[0-9a-f]{64}' || true)
    if [ -z "$index_sha" ]; then
        say "could not read regorus $version's checksum from crates.io's index either: not verified"
    elif [ "$index_sha" = "$actual_sha" ]; then
        say "sha256 matches crates.io's index ($actual_sha)"
    else
        die "sha256 of regorus-$version.crate is $actual_sha, crates.io's index says $index_sha"
    fi
fi

# --- 3. Unpack and trim: keep src/, build.rs, LICENSE, README.md, Cargo.toml
# and .cargo_vcs_info.json; drop everything else (tests, benches, examples,
# bindings, docs, CI files, Cargo.lock, Cargo.toml.orig) and the manifest's
# [[example]], [[test]] and [[bench]] tables, whose files are not kept.
tar -xzf "$crate_file" -C "$tmp"
src=$tmp/regorus-$version
[ -f "$src/Cargo.toml" ] || die "regorus-$version.crate has no regorus-$version/Cargo.toml"
if [ "$mode" != full ]; then
    find "$src" -mindepth 1 -maxdepth 1 \
        ! -name src ! -name build.rs ! -name LICENSE ! -name README.md \
        ! -name Cargo.toml ! -name .cargo_vcs_info.json -exec rm -rf {} +
    awk '/^\[/ { skip = ($0 ~ /^\[\[(example|test|bench)\]\]$/) } !skip' \
        "$src/Cargo.toml" >"$tmp/Cargo.toml"
    cat "$tmp/Cargo.toml" >"$src/Cargo.toml"
fi

# --- 4. The patches, in order. Each failure is reported, and the rest tried.
if command -v patch >/dev/null 2>&1; then
    apply() { # patch-file dry-run(0/1)
        if [ "$2" = 1 ]; then
            patch -p1 -d "$src" --forward --batch --dry-run -i "$1"
        else
            patch -p1 -d "$src" --forward --batch --no-backup-if-mismatch -i "$1"
        fi
    }
elif command -v git >/dev/null 2>&1; then
    apply() {
        if [ "$2" = 1 ]; then
            (cd "$src" && git apply -p1 --check --verbose "$1")
        else
            (cd "$src" && git apply -p1 --verbose "$1")
        fi
    }
else
    die "need patch or git to apply the patches"
fi

shopt -s nullglob
patches=("$patch_dir"/*.patch)
[ ${#patches[@]} -gt 0 ] || die "no patches in $patch_dir"
failed=()
for p in "${patches[@]}"; do
    name=$(basename "$p")
    if out=$(apply "$p" 1 2>&1); then
        apply "$p" 0 >/dev/null 2>&1 || die "$name: applied in a dry run but not for real"
        notes=$(printf '%s\n' "$out" | grep -E 'offset|fuzz' || true)
        if [ -n "$notes" ]; then
            say "applied $name, not exactly where it was made:"
            printf '%s\n' "$notes" | sed 's/^/      /'
        else
            say "applied $name"
        fi
    else
        say "FAILED  $name:"
        printf '%s\n' "$out" | sed 's/^/      /'
        failed+=("$name")
        # A full copy is for fixing patches: stop with the ones before it applied.
        [ "$mode" = full ] && break
    fi
done
if [ ${#failed[@]} -gt 0 ] && [ "$mode" = full ]; then
    mkdir -p "$full_dir"
    cp -R "$src"/. "$full_dir"/
    say "stopped at ${failed[0]}: $full_dir has regorus $version, untrimmed, with the patches before it"
    exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
    say "${#failed[@]} of ${#patches[@]} patches do not apply to regorus $version: ${failed[*]}"
    say "update them (see vendor/README.md); vendor/regorus was not touched"
    exit 1
fi

# --- 5. Compare with vendor/regorus, or replace it.
if [ "$mode" = check ]; then
    if diff -ru "$dest" "$src" >"$tmp/diff"; then
        say "identical: vendor/regorus is regorus $version with the ${#patches[@]} patches in vendor/patches/"
        exit 0
    fi
    cat "$tmp/diff"
    say "DIFFERENT: vendor/regorus is not regorus $version with the patches in vendor/patches/ (diff above: - vendor/regorus, + rebuilt)"
    say "put the change into a patch, or run with --write to discard it"
    exit 1
fi

if [ "$mode" = full ]; then
    mkdir -p "$full_dir"
    cp -R "$src"/. "$full_dir"/
    say "wrote regorus $version with the ${#patches[@]} patches, untrimmed, to $full_dir"
    exit 0
fi

rm -rf "$dest.new"
cp -R "$src" "$dest.new"
rm -rf "$dest"
mv "$dest.new" "$dest"
say "wrote vendor/regorus: regorus $version with the ${#patches[@]} patches in vendor/patches/"
if [ "$version" != "$PINNED_VERSION" ]; then
    say "now pin it in vendor/rebuild.sh:"
    echo "      PINNED_VERSION=$version"
    echo "      PINNED_SHA256=$actual_sha"
    say "and set regorus' version to \"$version\" in the workspace Cargo.toml ([workspace.dependencies]);"
    say "then run: cargo test --workspace"
fi
