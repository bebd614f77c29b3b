/* Synthetic task families: generation, expected answers (the checkers) and
 * plausible wrong answers for reward-model data. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpipe/synth.h"
#include "text_internal.h"

enum { SORT, REVERSE, ADD, COUNT, UPPER };

typedef struct {
    const char *name;
    int task, zh;
    const char *instruction;
    const char *sep; /* between the items of the input and the answer */
} family;

static const family FAM[LP_SYNTH_FAMILIES] = {
    {"sort_en", SORT, 0, "Sort the numbers in ascending order.", ", "},
    {"sort_zh", SORT, 1, "把这些数字从小到大排序。", "，"},
    {"reverse_en", REVERSE, 0, "Reverse the order of the words.", " "},
    {"reverse_zh", REVERSE, 1, "把这些词语的顺序倒过来。", " "},
    {"add_en", ADD, 0, "Add the two numbers.", " + "},
    {"add_zh", ADD, 1, "计算两个数的和。", " 加 "},
    {"count_en", COUNT, 0, "Count the words in the list.", " "},
    {"count_zh", COUNT, 1, "数一数列表里有几个词语。", " "},
    {"upper_en", UPPER, 0, "Convert the word to upper case.", ""},
    {"upper_zh", UPPER, 1, "把数字写成大写汉字。", ""},
};

static const char *WORDS_EN[] = {
    "apple",  "river",  "stone",  "cloud",  "tiger",  "bread",  "chair",  "light",  "music",  "ocean",
    "paper",  "queen",  "robot",  "sugar",  "table",  "water",  "zebra",  "honey",  "lemon",  "mouse",
    "night",  "plant",  "radio",  "smile",  "train",  "voice",  "whale",  "yacht",  "beach",  "candy",
    "dream",  "eagle",  "field",  "grape",  "horse",  "island", "juice",  "knife",  "lion",   "money",
    "nurse",  "onion",  "piano",  "quilt",  "rain",   "snake",  "tooth",  "uncle",  "violin", "window",
    "garden", "forest", "letter", "button", "rocket", "pencil", "basket", "carpet", "dragon", "flower",
    "guitar", "jacket", "kitten", "ladder"};
static const char *WORDS_ZH[] = {
    "苹果", "河流", "石头", "云朵", "老虎", "面包", "椅子", "月亮", "音乐", "海洋", "纸张", "太阳", "朋友",
    "糖果", "桌子", "清水", "斑马", "蜂蜜", "柠檬", "老鼠", "夜晚", "花园", "森林", "微笑", "火车", "声音",
    "鲸鱼", "帆船", "沙滩", "蛋糕", "梦想", "老鹰", "田野", "葡萄", "骏马", "岛屿", "果汁", "汽车", "狮子",
    "书包", "医生", "洋葱", "钢琴", "被子", "雨水", "牙齿", "叔叔", "窗户", "信封", "按钮", "火箭", "铅笔",
    "篮子", "地毯", "飞龙", "鲜花", "吉他", "外套", "小猫", "梯子", "城市", "山峰", "学校", "星星"};
#define NWORDS 64

static const char *LOWER_ZH[10] = {"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"};
static const char *UPPER_ZH[10] = {"零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"};

int lp_synth_family_count(void) { return LP_SYNTH_FAMILIES; }
const char *lp_synth_family_name(int i) { return i >= 0 && i < LP_SYNTH_FAMILIES ? FAM[i].name : NULL; }

int lp_synth_family_find(const char *name) {
    for (int i = 0; name && i < LP_SYNTH_FAMILIES; i++)
        if (!strcmp(name, FAM[i].name)) return i;
    return -1;
}

lp_synth_level lp_synth_preset(int level) {
    static const lp_synth_level L[3] = {{2, 3, 20, 12}, {3, 5, 99, 24}, {4, 8, 999, NWORDS}};
    return L[level < 1 ? 0 : level > 3 ? 2 : level - 1];
}

static uint64_t next(uint64_t *s) { return lp_splitmix64(s); }

static int uniform(uint64_t *s, int lo, int hi) /* [lo, hi] */
{
    return lo + (int)(next(s) % (uint64_t)(hi - lo + 1));
}

/* ---- small string list helpers ---- */

typedef struct {
    char **v;
    int n;
} list;

static void list_free(list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int list_push(list *l, const char *s, size_t len) {
    char **nv = realloc(l->v, (size_t)(l->n + 1) * sizeof *nv);
    if (!nv) return -1;
    l->v = nv;
    if (!(l->v[l->n] = strndup(s, len))) return -1;
    l->n++;
    return 0;
}

static char *join(const list *l, const char *sep) {
    size_t n = 1, sl = strlen(sep);
    for (int i = 0; i < l->n; i++) n += strlen(l->v[i]) + sl;
    char *o = malloc(n), *p = o;
    if (!o) return NULL;
    for (int i = 0; i < l->n; i++) {
        if (i) {
            memcpy(p, sep, sl);
            p += sl;
        }
        size_t k = strlen(l->v[i]);
        memcpy(p, l->v[i], k);
        p += k;
    }
    *p = 0;
    return o;
}

/* Splits s on sep (an empty sep splits UTF-8 characters); empty items fail. */
static int split(const char *s, const char *sep, list *out) {
    memset(out, 0, sizeof *out);
    size_t sl = strlen(sep);
    if (!*s) return -1;
    if (!sl) {
        for (const char *p = s; *p;) {
            size_t k = 1;
            while ((p[k] & 0xC0) == 0x80) k++;
            if (list_push(out, p, k)) {
                list_free(out);
                return -1;
            }
            p += k;
        }
        return 0;
    }
    for (const char *p = s;;) {
        const char *q = strstr(p, sep);
        size_t k = q ? (size_t)(q - p) : strlen(p);
        if (!k || list_push(out, p, k)) {
            list_free(out);
            return -1;
        }
        if (!q) return 0;
        p = q + sl;
    }
}

static int parse_uint(const char *s, long *v) {
    if (!*s || strlen(s) > 9) return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p)) return -1;
    if (s[0] == '0' && s[1]) return -1;
    *v = strtol(s, NULL, 10);
    return 0;
}

static char *fmt_long(long v) {
    char b[32];
    snprintf(b, sizeof b, "%ld", v);
    return strdup(b);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* ---- answers from inputs: the checkers ---- */

static char *answer_sort(const family *f, const char *in) {
    list l;
    if (split(in, f->sep, &l)) return NULL;
    long *v = malloc((size_t)l.n * sizeof *v);
    char *out = NULL;
    int ok = v != NULL;
    for (int i = 0; ok && i < l.n; i++) ok = parse_uint(l.v[i], &v[i]) == 0;
    if (ok && l.n >= 2) {
        qsort(v, (size_t)l.n, sizeof *v, cmp_long);
        for (int i = 0; i < l.n; i++) {
            free(l.v[i]);
            l.v[i] = fmt_long(v[i]);
            if (!l.v[i]) ok = 0;
        }
        if (ok) out = join(&l, f->sep);
    }
    free(v);
    list_free(&l);
    return out;
}

static char *answer_reverse(const family *f, const char *in) {
    list l;
    if (split(in, f->sep, &l)) return NULL;
    for (int i = 0, j = l.n - 1; i < j; i++, j--) {
        char *t = l.v[i];
        l.v[i] = l.v[j];
        l.v[j] = t;
    }
    char *out = l.n >= 2 ? join(&l, f->sep) : NULL;
    list_free(&l);
    return out;
}

static char *answer_add(const family *f, const char *in) {
    list l;
    if (split(in, f->sep, &l)) return NULL;
    long a, b;
    char *out = NULL;
    if (l.n == 2 && !parse_uint(l.v[0], &a) && !parse_uint(l.v[1], &b)) out = fmt_long(a + b);
    list_free(&l);
    return out;
}

static char *answer_count(const family *f, const char *in) {
    list l;
    if (split(in, f->sep, &l)) return NULL;
    char *out = fmt_long(l.n);
    list_free(&l);
    return out;
}

static char *answer_upper(const family *f, const char *in) {
    if (!*in) return NULL;
    if (!f->zh) {
        char *o = strdup(in);
        for (char *p = o; o && *p; p++) {
            if (!isalpha((unsigned char)*p)) {
                free(o);
                return NULL;
            }
            *p = (char)toupper((unsigned char)*p);
        }
        return o;
    }
    list l;
    if (split(in, "", &l)) return NULL;
    int ok = 1;
    for (int i = 0; ok && i < l.n; i++) {
        int d = -1;
        for (int k = 0; k < 10; k++)
            if (!strcmp(l.v[i], LOWER_ZH[k])) d = k;
        if (d < 0) {
            ok = 0;
            break;
        }
        free(l.v[i]);
        l.v[i] = strdup(UPPER_ZH[d]);
        ok = l.v[i] != NULL;
    }
    char *out = ok ? join(&l, "") : NULL;
    list_free(&l);
    return out;
}

static char *answer_of(const family *f, const char *in) {
    switch (f->task) {
        case SORT: return answer_sort(f, in);
        case REVERSE: return answer_reverse(f, in);
        case ADD: return answer_add(f, in);
        case COUNT: return answer_count(f, in);
        default: return answer_upper(f, in);
    }
}

static char *trimmed(const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1])) n--;
    return strndup(s, n);
}

/* The input section of a rendered prompt, or the prompt itself. */
static char *input_of(const char *prompt) {
    const char *m = strstr(prompt, "### Input:\n");
    if (!m) return trimmed(prompt, strlen(prompt));
    m += strlen("### Input:\n");
    const char *e = strstr(m, "\n\n### Response:");
    return trimmed(m, e ? (size_t)(e - m) : strlen(m));
}

char *lp_synth_answer(const char *family, const char *prompt) {
    int f = lp_synth_family_find(family);
    if (f < 0 || !prompt) return NULL;
    char *in = input_of(prompt);
    char *a = in ? answer_of(&FAM[f], in) : NULL;
    free(in);
    return a;
}

int lp_synth_check(const char *family, const char *prompt, const char *answer) {
    char *want = lp_synth_answer(family, prompt);
    if (!want) return -1;
    char *got = answer ? trimmed(answer, strlen(answer)) : NULL;
    int ok = got && !strcmp(got, want);
    free(want);
    free(got);
    return ok;
}

/* ---- generation ---- */

void lp_synth_item_free(lp_synth_item *it) {
    free(it->instruction);
    free(it->input);
    free(it->output);
    memset(it, 0, sizeof *it);
}

int lp_synth_generate(int fi, const lp_synth_level *lv0, uint64_t *rng, lp_synth_item *out) {
    memset(out, 0, sizeof *out);
    if (fi < 0 || fi >= LP_SYNTH_FAMILIES) return -1;
    const family *f = &FAM[fi];
    lp_synth_level lv = *lv0, def = lp_synth_preset(1);
    if (lv.min_items <= 0) lv.min_items = def.min_items;
    if (lv.max_items < lv.min_items)
        lv.max_items = lv.min_items > def.max_items ? lv.min_items : def.max_items;
    if (lv.max_value <= 0) lv.max_value = def.max_value;
    if (lv.pool <= 0) lv.pool = def.pool;
    if (lv.pool > NWORDS) lv.pool = NWORDS;
    const char **words = f->zh ? WORDS_ZH : WORDS_EN;
    list l = {0};
    int k = uniform(rng, lv.min_items, lv.max_items), ok = 1;
    char buf[32];
    switch (f->task) {
        case SORT:
            if (k < 2) k = 2;
            for (int i = 0; ok && i < k; i++) {
                snprintf(buf, sizeof buf, "%d", uniform(rng, 0, lv.max_value));
                ok = !list_push(&l, buf, strlen(buf));
            }
            break;
        case REVERSE: {
            if (k < 2) k = 2;
            /* distinct words when the pool allows, so the order is visible */
            int used[NWORDS] = {0};
            for (int i = 0; ok && i < k; i++) {
                int w = uniform(rng, 0, lv.pool - 1);
                for (int tries = 0; used[w] && tries < 64 && k <= lv.pool; tries++)
                    w = uniform(rng, 0, lv.pool - 1);
                used[w] = 1;
                ok = !list_push(&l, words[w], strlen(words[w]));
            }
            break;
        }
        case ADD:
            for (int i = 0; ok && i < 2; i++) {
                snprintf(buf, sizeof buf, "%d", uniform(rng, 0, lv.max_value));
                ok = !list_push(&l, buf, strlen(buf));
            }
            break;
        case COUNT:
            for (int i = 0; ok && i < k; i++) {
                int w = uniform(rng, 0, lv.pool - 1);
                ok = !list_push(&l, words[w], strlen(words[w]));
            }
            break;
        default:
            if (!f->zh) {
                /* a made-up word of k consonant-vowel syllables: far more distinct
             * tasks than a word list, still pronounceable */
                static const char C[] = "bdfgklmnprstvz", V[] = "aeiou";
                char w[2 * 64 + 1];
                int n = 0;
                for (int i = 0; i < k && i < 64; i++) {
                    w[n++] = C[uniform(rng, 0, (int)sizeof C - 2)];
                    w[n++] = V[uniform(rng, 0, (int)sizeof V - 2)];
                }
                ok = !list_push(&l, w, (size_t)n);
            } else {
                for (int i = 0; ok && i < k; i++) {
                    const char *d = LOWER_ZH[uniform(rng, 0, 9)];
                    ok = !list_push(&l, d, strlen(d));
                }
            }
    }
    out->family = fi;
    out->instruction = ok ? strdup(f->instruction) : NULL;
    out->input = ok ? join(&l, f->sep) : NULL;
    list_free(&l);
    out->output = out->input ? answer_of(f, out->input) : NULL;
    if (!out->instruction || !out->input || !out->output) {
        lp_synth_item_free(out);
        return -1;
    }
    return 0;
}

/* ---- plausible wrong answers ---- */

static char *corrupt_list(const family *f, const char *ans, const char *flaw, uint64_t *rng) {
    list l;
    const char *sep = f->task == UPPER ? "" : f->sep;
    if (split(ans, sep, &l)) return NULL;
    char *out = NULL;
    if (!strcmp(flaw, "swap")) {
        int start = uniform(rng, 0, l.n - 1);
        for (int t = 0; t + 1 < l.n; t++) {
            int i = (start + t) % (l.n - 1);
            if (strcmp(l.v[i], l.v[i + 1])) {
                char *x = l.v[i];
                l.v[i] = l.v[i + 1];
                l.v[i + 1] = x;
                out = join(&l, sep);
                break;
            }
        }
    } else if (!strcmp(flaw, "truncated")) {
        if (l.n >= 2) {
            l.n--;
            free(l.v[l.n]);
            out = join(&l, sep);
        }
    } else if (!strcmp(flaw, "off_by_one")) {
        int i = uniform(rng, 0, l.n - 1);
        long v;
        if (f->task == SORT && !parse_uint(l.v[i], &v)) {
            free(l.v[i]);
            l.v[i] = fmt_long(v == 0 || (next(rng) & 1) ? v + 1 : v - 1);
            out = l.v[i] ? join(&l, sep) : NULL;
        } else if (f->task == UPPER) {
            /* one character left as it was */
            const char *orig = NULL;
            if (!f->zh) {
                l.v[i][0] = (char)tolower((unsigned char)l.v[i][0]);
                out = join(&l, sep);
            } else {
                for (int k = 1; k < 10; k++)
                    if (!strcmp(l.v[i], UPPER_ZH[k])) orig = LOWER_ZH[k];
                if (orig) {
                    free(l.v[i]);
                    l.v[i] = strdup(orig);
                    out = l.v[i] ? join(&l, sep) : NULL;
                }
            }
        }
    }
    list_free(&l);
    return out;
}

char *lp_synth_corrupt(const lp_synth_item *it, const char *flaw, uint64_t *rng) {
    if (it->family < 0 || it->family >= LP_SYNTH_FAMILIES) return NULL;
    const family *f = &FAM[it->family];
    const char *a = it->output;
    char *out = NULL;
    if (!strcmp(flaw, "chatter")) {
        static const char *EN[] = {"Sure! The answer is: %s", "%s\nI hope this helps!", "Let me think. %s"};
        static const char *ZH[] = {"好的，答案是：%s", "%s\n希望对你有帮助！", "让我想一想。%s"};
        const char *fmt = (f->zh ? ZH : EN)[next(rng) % 3];
        size_t n = strlen(fmt) + strlen(a) + 1;
        out = malloc(n);
        if (out) snprintf(out, n, fmt, a);
    } else if (f->task == ADD || f->task == COUNT) {
        long v;
        if (parse_uint(a, &v)) return NULL;
        if (!strcmp(flaw, "off_by_one"))
            out = fmt_long(v == 0 || (next(rng) & 1) ? v + 1 : v - 1);
        else if (!strcmp(flaw, "truncated") && strlen(a) >= 2)
            out = strndup(a, strlen(a) - 1);
        else if (!strcmp(flaw, "swap") && strlen(a) >= 2 && a[0] != a[1] && a[1] != '0') {
            out = strdup(a);
            if (out) {
                out[0] = a[1];
                out[1] = a[0];
            }
        }
    } else {
        if (f->task == REVERSE && !strcmp(flaw, "off_by_one")) return NULL;
        out = corrupt_list(f, a, flaw, rng);
    }
    if (out && !strcmp(out, a)) {
        free(out);
        out = NULL;
    }
    return out;
}
