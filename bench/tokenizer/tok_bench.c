/* Encoding throughput of the llmpipe tokenizer on one file, single thread:
 * each repetition loads the tokenizer afresh, so the word cache starts cold
 * as it does for a new process. Prints the best MB/s and the token count. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "llmpipe/tokenizer.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER TEXT [REPS]\n", argv[0]);
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: read failed\n", argv[2]);
        return 1;
    }
    fclose(f);
    double best = 1e30;
    size_t ntok = 0;
    char err[512];
    for (int r = 0; r < reps; r++) {
        lp_tokenizer *t;
        if (lp_tokenizer_open(&t, argv[1], err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        lp_ids ids = {0};
        double t0 = now_s();
        if (lp_tokenizer_encode(t, text, (size_t)n, 1, &ids, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
        ntok = ids.n;
        lp_ids_free(&ids);
        lp_tokenizer_destroy(t);
    }
    printf("llmpipe %.2f MB/s %zu tokens %.3f s\n", (double)n / best / 1e6, ntok, best);
    free(text);
    return 0;
}
