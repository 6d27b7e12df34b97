#!/usr/bin/env bash
# Carry files bigger than what one device call takes (64 MiB with the working tree, which holds the default model's
# weights) to the GPU machine in parts: one part per call while the machine stays warm, reassembled there.
#   here:  maintainers/gpu-host/device_parts.sh split NAME FILE...   -> .NAME1 ... .NAMEk (git-ignored; sized to fit beside the
#                                                          tree; prints k and the calls to make)
#   there: maintainers/gpu-host/device_parts.sh collect NAME N        (in the call that carries .NAMEN; parts wait in /tmp/parts)
#   there: maintainers/gpu-host/device_parts.sh unpack NAME DIR       -> the FILEs in DIR (checks the sha256 taken here)
# Wheels then install with `python3 -m pip install -q --no-index --no-deps --target /tmp/site DIR/*.whl`.
set -euo pipefail
cmd=${1:-}; name=${2:-}
[ -n "$name" ] || { echo "usage: $0 split NAME FILE... | collect NAME N | unpack NAME DIR" >&2; exit 2; }
case "$cmd" in
  split)
    shift 2
    [ $# -gt 0 ] || { echo "split: name the files to carry" >&2; exit 2; }
    tree=$( (git ls-files -z | xargs -0 du -cb 2>/dev/null || true) | tail -1 | cut -f1)  # hidden files: not there
    room=$(( 64 * 1024 * 1024 - tree - 2 * 1024 * 1024 ))  # 2 MiB spare for untracked files
    [ "$room" -gt $((1024 * 1024)) ] || { echo "the working tree alone nearly fills a call ($tree bytes)" >&2; exit 2; }
    rm -rf ".$name"[0-9]* && tmp=$(mktemp -d)
    tar -cPf "$tmp/$name.tar" --transform 's|.*/||' "$@"  # flat: the files' names only
    sha256sum "$tmp/$name.tar" | cut -d' ' -f1 > "$tmp/sha"
    split -b "$room" -d -a 2 "$tmp/$name.tar" "$tmp/part"
    k=0
    for p in "$tmp"/part*; do
      k=$((k + 1)); mkdir ".$name$k"; mv "$p" ".$name$k/$name.tar.$k"; cp "$tmp/sha" ".$name$k/$name.sha256"
      grep -qx "/.$name$k/" .git/info/exclude 2>/dev/null || echo "/.$name$k/" >> .git/info/exclude
    done
    rm -rf "$tmp"
    echo "$k parts of at most $((room / 1024 / 1024)) MiB: carry .${name}1 ... .$name$k, one per call:"
    echo "  maintainers/gpu-host/device_parts.sh collect $name N   (then: maintainers/gpu-host/device_parts.sh unpack $name DIR)";;
  collect)
    n=${3:?part number}; mkdir -p /tmp/parts
    cp ".$name$n/$name.tar.$n" ".$name$n/$name.sha256" /tmp/parts/
    ls /tmp/parts | grep -c "^$name.tar" | xargs echo "parts of $name here:";;
  unpack)
    dir=${3:?target folder}; cd /tmp/parts
    k=$(ls | grep -c "^$name.tar\.[0-9]*$")
    for i in $(seq 1 "$k"); do cat "$name.tar.$i"; done > "/tmp/$name.tar"
    [ "$(sha256sum "/tmp/$name.tar" | cut -d' ' -f1)" = "$(cat "$name.sha256")" ] \
      || { echo "$name: $k parts do not make the file split here (one missing?)" >&2; exit 2; }
    mkdir -p "$dir" && tar -xf "/tmp/$name.tar" -C "$dir" && rm "/tmp/$name.tar" && ls -la "$dir";;
  *) echo "usage: $0 split NAME FILE... | collect NAME N | unpack NAME DIR" >&2; exit 2;;
esac
