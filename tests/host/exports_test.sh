#!/bin/bash
# Plugins built by the project export exactly one symbol, the entry point.
. "$(dirname "$0")/lib.sh"
n=0
for so in $(find "$R" -name '*.so' -path '*plugins*' ! -name 'no_entry.so' | sort); do
  n=$((n + 1))
  expect_eq "$(nm -D --defined-only "$so" | awk '{print $3}' | tr '\n' ' ')" "lp_plugin_entry " "exports of $so"
done
CHECKS=$((CHECKS + 1))
[ "$n" -ge 7 ] || fail "only $n plugins found under $R"
finish
