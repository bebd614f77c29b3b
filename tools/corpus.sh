#!/usr/bin/env bash
# Builds the quickstart pretraining corpus from Debian's fortunes and
# fortunes-zh packages: every fortune file concatenated (fortunes stay
# separated by their "%" lines), ANSI colour codes removed (the Chinese files
# colour titles and authors), CRs dropped.
# Usage: tools/corpus.sh OUT.txt [FORTUNE_DIR]
set -euo pipefail
out=${1:?usage: tools/corpus.sh OUT.txt [FORTUNE_DIR]}
dir=${2:-/usr/share/games/fortunes}
for f in "$dir/fortunes" "$dir/tang300"; do
  if [ ! -f "$f" ]; then
    echo "corpus.sh: $f is missing: install the Debian packages 'fortunes' and 'fortunes-zh' (apt-get install fortunes fortunes-zh)" >&2
    exit 2
  fi
done
tmp="$out.tmp"
: > "$tmp"
# The data files are the ones with a strfile index (.dat) beside them; the
# .u8 names are links to the same files.
for dat in "$dir"/*.dat; do
  f=${dat%.dat}
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  # ESC [ params letter, then any stray ESC; tr drops CRs
  sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e 's/\x1b//g' "$f" | tr -d '\r' >> "$tmp"
  # files must not run together: end each one with a "%" line
  [ -z "$(tail -c 1 "$tmp")" ] || echo >> "$tmp"
  [ "$(tail -n 1 "$tmp")" = "%" ] || echo "%" >> "$tmp"
done
mv "$tmp" "$out"
echo "corpus.sh: $(wc -c < "$out") bytes from $(ls "$dir"/*.dat | wc -l) fortune files -> $out" >&2
