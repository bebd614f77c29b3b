#!/bin/bash
# A third-party plugin built with a plain compiler line against sdk/include
# (no Bazel), dropped into a folder on LLMPIPE_PLUGIN_PATH, is listed and
# runs in a chain.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/myplugins"
cat > hello.c <<'SRC'
#include <stdio.h>
#include <llmpipe/plugin.h>

static const lp_param_spec params[] = {
  {"greeting", LP_PARAM_STRING, "\"hello\"", 0, "what to say"},
};

typedef struct { const lp_host_services *h; } hello;

static int create(const lp_host_services *h, void **s, char *err, size_t n) {
  static hello state;
  (void)err; (void)n;
  state.h = h;
  *s = &state;
  return 0;
}

static int run(void *s, char *err, size_t n) {
  const lp_host_services *h = ((hello *)s)->h;
  const char *g;
  if (h->param_string(h->host, "greeting", &g) != 0) {
    snprintf(err, n, "%s", h->last_error(h->host));
    return -1;
  }
  h->log(h->host, LP_LOG_INFO, g);
  lp_metric m = {"greeted", 1};
  return h->emit_metrics(h->host, 1, &m, 1);
}

static void destroy(void *s) { (void)s; }

static const lp_stage_desc desc = {
  LP_STAGE_DESC_INIT,
  .name = "hello", .version = "0.0.1", .description = "says hello",
  .params = params, .param_count = 1,
  .create = create, .run = run, .destroy = destroy,
};

LP_PLUGIN_EXPORT const lp_stage_desc *lp_plugin_entry(void) { return &desc; }
SRC
CHECKS=$((CHECKS + 1))
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden \
   -I "$R/sdk/include" hello.c -o "$T/myplugins/hello.so" || fail "plain cc build"
export LLMPIPE_PLUGIN_PATH="$T/myplugins"
expect_status 0 "$LLMPIPE" plugins
expect_grep out "^  hello 0\.0\.1 \(ABI 1\.1\) .*/myplugins/hello\.so$"
expect_grep out "^      greeting +string +default \"hello\" +what to say$"
cat > c.cfg <<CFG
run_dir = "$T/run";
endpoints = { metrics_out = "tcp://127.0.0.1:$(free_port)"; };
chain = ( { name = "greet"; plugin = "hello"; params = { greeting = "bonjour"; }; } );
CFG
expect_status 0 "$LLMPIPE" run --quiet c.cfg
expect_grep err "\[greet\] info: bonjour"
expect_eq "$(nm -D --defined-only "$T/myplugins/hello.so" | awk '{print $3}')" "lp_plugin_entry" "exported symbols"
finish
