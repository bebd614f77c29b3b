#include "host/runner.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "host/broker.h"
#include "host/control.h"
#include "host/live_view.h"
#include "host/manifest.h"
#include "host/util.h"
#include "llmpipe/clock.h"
#include "llmpipe/error.h"
#include "llmpipe/fsutil.h"
#include "llmpipe/mix.h"
#include "sdk/comm/comm.h"

static volatile sig_atomic_t g_stop_signal = 0;

static void on_stop_signal(int sig) { g_stop_signal = sig; }

typedef struct runner {
    const lp_chain *chain;
    const lp_run_opts *opts;
    void *zctx;
    void *control;
    lp_broker *broker;
    lp_publisher *events;
    lp_live_view *view;
    lp_manifest *manifest;
    char run_dir_abs[4096];
    char control_ep[4300];
} runner;

/* ipc:// paths are limited to about 100 bytes; deep run folders (Bazel test
 * sandboxes) fall back to a private folder under /tmp. */
static void default_endpoint(const runner *r, const char *configured, const char *name, char *out,
                             size_t size) {
    if (configured) {
        snprintf(out, size, "%s", configured);
        return;
    }
    if (strlen(r->run_dir_abs) + strlen(name) + 16 < 100) {
        snprintf(out, size, "ipc://%s/%s.sock", r->run_dir_abs, name);
    } else {
        char dir[128];
        snprintf(dir, sizeof dir, "/tmp/llmpipe-%ld", (long)getpid());
        mkdir(dir, 0700);
        snprintf(out, size, "ipc://%s/%s.sock", dir, name);
    }
}

static uint64_t stage_seed(uint64_t seed, const char *name) {
    /* FNV-1a of the name, then a splitmix64 finaliser: stages get distinct,
   * reproducible streams from one run seed. */
    uint64_t state = seed + lp_fnv1a64(name, strlen(name));
    return lp_splitmix64(&state);
}

static char *stage_config_json(runner *r, const lp_stage_cfg *s, int resuming) {
    char work[8200];
    snprintf(work, sizeof work, "%s/stages/%s", r->run_dir_abs, s->name);
    json_t *inputs = json_array();
    for (size_t i = 0; i < s->input_count; i++) json_array_append_new(inputs, json_string(s->inputs[i]));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:O, s:o, s:s?, s:s, s:i, s:I, s:b, s:s, "
        "s:{s:s, s:s}, s:s?, s:s?}",
        "run", r->chain->name, "stage", s->name, "plugin", s->plugin, "plugin_file", s->loaded.path, "params",
        s->params, "inputs", inputs, "output", s->output, "device", s->device, "threads", s->threads, "seed",
        (json_int_t)stage_seed(r->chain->seed, s->name), "resume", resuming, "work_dir", work, "endpoints",
        "store", lp_broker_endpoint(r->broker, "store"), "metrics_in",
        lp_broker_endpoint(r->broker, "metrics_in"), "curve_server_key", r->chain->curve_public,
        "cpu_backend", r->chain->cpu_backend);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static const char *signal_text(int sig) {
    const char *d = strsignal(sig);
    return d ? d : "unknown signal";
}

/* Runs one stage to its end. Returns 0 on success; on failure writes the
 * one-line reason into `why`. */
static int run_stage(runner *r, const lp_stage_cfg *s, int resuming, char *why, size_t why_size) {
    pid_t pid = -1;
    if (!s->remote) {
        int curve = r->chain->curve_public && strncmp(r->control_ep, "tcp://", 6) == 0;
        char *const argv[] = {(char *)"llmpipe",
                              (char *)"worker",
                              (char *)"--connect",
                              r->control_ep,
                              (char *)"--stage",
                              s->name,
                              curve ? (char *)"--server-key" : NULL,
                              r->chain->curve_public,
                              NULL};
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
            snprintf(why, why_size, "cannot fork a worker: %s", strerror(errno));
            return -1;
        }
        if (pid == 0) {
            execv(lp_exe_path(), argv);
            fprintf(stderr, "llmpipe: cannot start worker %s: %s\n", lp_exe_path(), strerror(errno));
            _exit(127);
        }
    } else {
        fprintf(stderr,
                "llmpipe: stage '%s' is remote; waiting for `llmpipe worker "
                "--connect %s --stage %s%s%s`\n",
                s->name, r->control_ep, s->name, r->chain->curve_public ? " --server-key " : "",
                r->chain->curve_public ? r->chain->curve_public : "");
    }

    char peer[256];
    size_t peer_len = 0;
    int attached = 0, done = 0, done_ok = 0, exited = 0, status = 0;
    char done_reason[1024] = "";
    double start = lp_wall_s(), last_seen = start, stop_sent_at = 0;
    int stop_sent = 0;
    while (!(done && (s->remote || exited)) && !(exited && !s->remote)) {
        zmq_pollitem_t item = {r->control, 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, 100);
        lp_frames m;
        while (lp_frames_recv(r->control, &m, 1) > 0) {
            if (m.count < 2) {
                lp_frames_free(&m);
                continue;
            }
            const char *cmd = m.frame[1];
            int from_peer = attached && m.len[0] == peer_len && memcmp(m.frame[0], peer, peer_len) == 0;
            if (strcmp(cmd, "HELLO") == 0 && m.count >= 3) {
                if (attached || strcmp(m.frame[2], s->name) != 0) {
                    char reason[512];
                    snprintf(reason, sizeof reason,
                             "stage '%s' is not waiting for a worker (the host is "
                             "running stage '%s'%s)",
                             m.frame[2], s->name, attached ? ", already attached" : "");
                    const char *f[] = {"REFUSED", reason};
                    lp_frames_send_to(r->control, m.frame[0], m.len[0], 2, f);
                } else {
                    attached = 1;
                    peer_len = m.len[0] < sizeof peer ? m.len[0] : sizeof peer;
                    memcpy(peer, m.frame[0], peer_len);
                    last_seen = lp_wall_s();
                    char *cfg = stage_config_json(r, s, resuming);
                    const char *f[] = {"CONFIG", cfg};
                    lp_frames_send_to(r->control, peer, peer_len, 2, f);
                    free(cfg);
                    if (stop_sent) {
                        const char *stop[] = {"STOP"};
                        lp_frames_send_to(r->control, peer, peer_len, 1, stop);
                    }
                }
            } else if (from_peer && strcmp(cmd, "HEARTBEAT") == 0) {
                last_seen = lp_wall_s();
            } else if (from_peer && strcmp(cmd, "DONE") == 0 && m.count >= 3) {
                done = 1;
                done_ok = strcmp(m.frame[2], "ok") == 0;
                snprintf(done_reason, sizeof done_reason, "%s", m.count >= 4 ? m.frame[3] : "");
                last_seen = lp_wall_s();
            }
            lp_frames_free(&m);
        }
        if (pid > 0 && !exited) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) exited = 1;
        }
        double now = lp_wall_s();
        if (g_stop_signal && !stop_sent) {
            stop_sent = 1;
            stop_sent_at = now;
            fprintf(stderr,
                    "llmpipe: %s received; asking stage '%s' to stop "
                    "(grace %.0f s)\n",
                    signal_text(g_stop_signal), s->name, r->chain->stop_grace_s);
            if (pid > 0 && !exited) kill(pid, SIGTERM);
            if (attached) {
                const char *stop[] = {"STOP"};
                lp_frames_send_to(r->control, peer, peer_len, 1, stop);
            }
            if (s->remote && !attached) break;
        }
        if (stop_sent && now - stop_sent_at > r->chain->stop_grace_s) {
            if (pid > 0 && !exited) {
                fprintf(stderr,
                        "llmpipe: stage '%s' did not stop within %.0f s; "
                        "killing it\n",
                        s->name, r->chain->stop_grace_s);
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                exited = 1;
            } else {
                break;
            }
        }
        if (s->remote && attached && !done && now - last_seen > r->chain->heartbeat_timeout_s) {
            snprintf(why, why_size, "remote worker for stage '%s' (plugin %s) went silent for %.0f s",
                     s->name, s->plugin, r->chain->heartbeat_timeout_s);
            return -1;
        }
        if (!s->remote && !attached && !exited && now - start > 60.0) {
            snprintf(why, why_size,
                     "worker for stage '%s' did not connect within "
                     "60 s",
                     s->name);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
    }

    const char *file = s->loaded.path;
    if (pid > 0 && exited && WIFSIGNALED(status)) {
        snprintf(why, why_size, "stage '%s' (plugin %s, %s): worker killed by signal %d (%s)", s->name,
                 s->plugin, file, WTERMSIG(status), signal_text(WTERMSIG(status)));
        return -1;
    }
    if (pid > 0 && exited && WEXITSTATUS(status) != 0 && (!done || done_ok)) {
        snprintf(why, why_size, "stage '%s' (plugin %s, %s): worker exited with status %d%s%s", s->name,
                 s->plugin, file, WEXITSTATUS(status), done_reason[0] ? ": " : "", done_reason);
        return -1;
    }
    if (!done) {
        snprintf(why, why_size,
                 "stage '%s' (plugin %s): stopped before it "
                 "finished",
                 s->name, s->plugin);
        return -1;
    }
    if (!done_ok) {
        snprintf(why, why_size, "stage '%s' (plugin %s, %s): %s", s->name, s->plugin, file,
                 done_reason[0] ? done_reason : "failed");
        return -1;
    }
    if (g_stop_signal) {
        snprintf(why, why_size, "stage '%s' (plugin %s): stopped on request", s->name, s->plugin);
        return -1;
    }
    return 0;
}

static int setup(runner *r, char *err, size_t err_size) {
    if (lp_mkdir_p(r->chain->run_dir, err, err_size) != 0) return -1;
    if (realpath(r->chain->run_dir, r->run_dir_abs) == NULL)
        return lp_errf(err, err_size, "%s: %s", r->chain->run_dir, strerror(errno));
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/stages", r->run_dir_abs);
    if (lp_mkdir_p(sub, err, err_size) != 0) return -1;
    /* --only works inside an existing run as well as a new one. */
    r->manifest = lp_manifest_open(r->chain, r->opts->resume || r->opts->only, err, err_size);
    if (r->manifest == NULL) return -1;

    r->zctx = zmq_ctx_new();
    char store_ep[4300], in_ep[4300];
    default_endpoint(r, r->chain->ep_control, "control", r->control_ep, sizeof r->control_ep);
    default_endpoint(r, r->chain->ep_store, "store", store_ep, sizeof store_ep);
    default_endpoint(r, r->chain->ep_metrics_in, "metrics-in", in_ep, sizeof in_ep);
    lp_broker_config bc = {
        .run_dir = r->run_dir_abs,
        .metrics_in = in_ep,
        .metrics_out = r->chain->ep_metrics_out,
        .store = store_ep,
        .curve_secret_key = r->chain->curve_secret,
    };
    r->broker = lp_broker_create(r->zctx, &bc, err, err_size);
    if (r->broker == NULL) return -1;

    r->control = zmq_socket(r->zctx, ZMQ_ROUTER);
    int one = 1;
    zmq_setsockopt(r->control, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    int is_tcp = strncmp(r->control_ep, "tcp://", 6) == 0;
    if (lp_socket_setup(r->control, is_tcp ? r->chain->curve_secret : NULL, NULL, err, err_size) != 0)
        return -1;
    if (zmq_bind(r->control, r->control_ep) != 0)
        return lp_errf(err, err_size, "endpoints.control: cannot bind %s: %s", r->control_ep,
                       zmq_strerror(errno));
    size_t len = sizeof r->control_ep;
    zmq_getsockopt(r->control, ZMQ_LAST_ENDPOINT, r->control_ep, &len);

    r->events = lp_publisher_create(r->zctx, lp_broker_endpoint(r->broker, "metrics_in"), r->chain->name,
                                    "host", NULL, err, err_size);
    if (r->events == NULL) return -1;
    if (!r->opts->quiet) {
        r->view = lp_live_view_create(r->zctx, lp_broker_endpoint(r->broker, "metrics_out"), "", !isatty(1),
                                      err, err_size);
        if (r->view == NULL) return -1;
    }
    json_t *eps = json_pack("{s:s, s:s, s:s, s:s}", "control", r->control_ep, "store",
                            lp_broker_endpoint(r->broker, "store"), "metrics_in",
                            lp_broker_endpoint(r->broker, "metrics_in"), "metrics_out",
                            lp_broker_endpoint(r->broker, "metrics_out"));
    char path[4200];
    snprintf(path, sizeof path, "%s/endpoints.json", r->run_dir_abs);
    char *text = json_dumps(eps, JSON_INDENT(2));
    lp_write_file_atomic(path, text, strlen(text), err, err_size);
    free(text);
    json_decref(eps);
    fprintf(stderr, "llmpipe: run '%s' in %s; metrics on %s\n", r->chain->name, r->run_dir_abs,
            lp_broker_endpoint(r->broker, "metrics_out"));
    return 0;
}

/* A stage about to run again must be able to publish its output: an
 * artifact of that name from an earlier attempt is moved to run_dir/retired/
 * (never deleted: it may be all that is left of hours of work). */
static int retire_artifact(runner *r, const char *name, char *err, size_t err_size) {
    char hash[128];
    if (lp_broker_artifact_hash(r->broker, name, hash, sizeof hash) != 0) return 0;
    char from[8400], dir[8400], to[8600], when[64];
    snprintf(from, sizeof from, "%s/artifacts/%s", r->run_dir_abs, name);
    snprintf(dir, sizeof dir, "%s/retired", r->run_dir_abs);
    lp_iso_time(lp_wall_s(), when, sizeof when);
    snprintf(to, sizeof to, "%s/%s-%s-%.12s", dir, name, when, hash);
    if (lp_mkdir_p(dir, err, err_size) != 0) return -1;
    if (rename(from, to) != 0)
        return lp_errf(err, err_size,
                       "cannot move the earlier artifact %s aside to %s: "
                       "%s",
                       from, to, strerror(errno));
    lp_fsync_parent(from);
    fprintf(stderr, "llmpipe: earlier artifact '%s' moved to %s\n", name, to);
    return 0;
}

/* --only STAGE needs the stage's inputs in the store already. */
static int check_only_inputs(runner *r, const lp_stage_cfg *s, char *err, size_t err_size) {
    for (size_t i = 0; i < s->input_count; i++) {
        char hash[128];
        if (lp_broker_artifact_hash(r->broker, s->inputs[i], hash, sizeof hash) != 0)
            return lp_errf(err, err_size,
                           "--only %s: its input '%s' is not in the store "
                           "of %s (run the stages before it first)",
                           s->name, s->inputs[i], r->run_dir_abs);
    }
    return 0;
}

static void teardown(runner *r) {
    if (r->view) lp_live_view_destroy(r->view);
    if (r->events) lp_publisher_destroy(r->events);
    if (r->control) zmq_close(r->control);
    if (r->broker) lp_broker_destroy(r->broker);
    if (r->zctx) zmq_ctx_term(r->zctx);
    lp_manifest_destroy(r->manifest);
}

int lp_run_chain(const lp_chain *chain, const lp_run_opts *opts) {
    runner r = {.chain = chain, .opts = opts};
    char err[2048];
    lp_on_stop_signals(on_stop_signal);

    if (opts->only && lp_chain_stage(chain, opts->only) == NULL) {
        fprintf(stderr, "llmpipe: --only %s: no such stage in %s\n", opts->only, chain->config_path);
        return 2;
    }
    if (setup(&r, err, sizeof err) != 0) {
        fprintf(stderr, "llmpipe: %s\n", err);
        teardown(&r);
        return 2;
    }
    if (opts->only && check_only_inputs(&r, lp_chain_stage(chain, opts->only), err, sizeof err) != 0) {
        fprintf(stderr, "llmpipe: %s\n", err);
        teardown(&r);
        return 2;
    }
    int rc = 0;
    for (size_t i = 0; i < chain->stage_count && rc == 0; i++) {
        const lp_stage_cfg *s = &chain->stages[i];
        if (opts->only && strcmp(opts->only, s->name) != 0) continue;
        const char *state = lp_manifest_state(r.manifest, s->name);
        if (opts->resume && !opts->only && state && strcmp(state, "done") == 0) {
            char hash[128];
            const char *want = lp_manifest_artifact_hash(r.manifest, s->name);
            if (s->output == NULL || (lp_broker_artifact_hash(r.broker, s->output, hash, sizeof hash) == 0 &&
                                      want && strcmp(hash, want) == 0)) {
                fprintf(stderr, "llmpipe: stage '%s' already done; skipped\n", s->name);
                continue;
            }
            fprintf(stderr,
                    "llmpipe: stage '%s' was done but its artifact '%s' is "
                    "missing or changed; running it again\n",
                    s->name, s->output);
        }
        /* A stage interrupted earlier restarts from its own last checkpoint. */
        int resuming = opts->resume && state && strcmp(state, "pending") != 0;
        if (s->output && retire_artifact(&r, s->output, err, sizeof err) != 0) {
            fprintf(stderr, "llmpipe: stage '%s': %s\n", s->name, err);
            rc = 1;
            break;
        }
        lp_manifest_set_state(r.manifest, s->name, "running", NULL);
        lp_manifest_save(r.manifest, err, sizeof err);
        lp_publisher_event(r.events, "started", s->name);
        char why[2048];
        if (run_stage(&r, s, resuming, why, sizeof why) != 0) {
            fprintf(stderr, "llmpipe: %s\n", why);
            lp_manifest_set_state(r.manifest, s->name, "failed", why);
            lp_publisher_event(r.events, "failed", why);
            rc = 1;
        } else if (s->output) {
            char hash[128];
            if (lp_broker_artifact_hash(r.broker, s->output, hash, sizeof hash) != 0) {
                snprintf(why, sizeof why,
                         "stage '%s' (plugin %s) finished without "
                         "publishing its output '%s'",
                         s->name, s->plugin, s->output);
                fprintf(stderr, "llmpipe: %s\n", why);
                lp_manifest_set_state(r.manifest, s->name, "failed", why);
                lp_publisher_event(r.events, "failed", why);
                rc = 1;
            } else {
                lp_manifest_set_artifact(r.manifest, s->name, s->output, hash);
                lp_manifest_set_state(r.manifest, s->name, "done", NULL);
                lp_publisher_event(r.events, "finished", s->name);
            }
        } else {
            lp_manifest_set_state(r.manifest, s->name, "done", NULL);
            lp_publisher_event(r.events, "finished", s->name);
        }
        if (lp_manifest_save(r.manifest, err, sizeof err) != 0) {
            fprintf(stderr, "llmpipe: %s\n", err);
            rc = 1;
        }
        if (g_stop_signal) rc = rc ? rc : 1;
    }
    if (rc == 0) fprintf(stderr, "llmpipe: run '%s' finished\n", chain->name);
    teardown(&r);
    return rc;
}
