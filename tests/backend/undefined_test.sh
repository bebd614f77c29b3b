#!/bin/sh
# Each backend library must load into a program whose lpk_ symbols are hidden
# (a plugin loaded RTLD_LOCAL): it may need no lpk_ symbol from its loader,
# and it exports exactly its entry and its score.
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
    [ $status = 0 ] && echo "ok   $(basename "$lib"): no lpk_ import; exports $exports"
done
[ $# -gt 0 ] || { echo "FAIL no libraries given"; exit 1; }
exit $status
