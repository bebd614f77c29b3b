#!/bin/sh
# Each backend library must load into a program whose lpk_ symbols are hidden
# (a plugin loaded RTLD_LOCAL): it may need no lpk_ symbol from its loader,
# and it exports exactly its entry and its score. The score runs before the
# loader knows whether the CPU can run the rest, so it (and what it calls)
# must hold no VEX/EVEX (AVX, AVX-512) instruction.
status=0
for lib in "$@"; do
    undef=$(nm -D --undefined-only "$lib" | grep ' lpk_')
    if [ -n "$undef" ]; then
        echo "FAIL $lib needs lpk_ symbols from its loader: $undef"
        status=1
    fi
    exports=$(nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}' | sort | tr '\n' ' ')
    if [ "$exports" != "lpk_backend_entry lpk_backend_score " ]; then
        echo "FAIL $lib exports: $exports"
        status=1
    fi
    vex=$(objdump -d --no-show-raw-insn "$lib" |
        awk '/^[0-9a-f]+ <(lpk_backend_score|supports)[>.]/,/^$/' |
        awk -F'\t' 'NF >= 2 && $2 ~ /^v/ {print $2}' | head -3)
    if [ -n "$vex" ]; then
        echo "FAIL $lib: the score function uses vector instructions: $vex"
        status=1
    fi
    [ $status = 0 ] && echo "ok   $(basename "$lib"): no lpk_ import; exports $exports; score without AVX"
done
[ $# -gt 0 ] || { echo "FAIL no libraries given"; exit 1; }
exit $status
