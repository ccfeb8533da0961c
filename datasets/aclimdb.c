/* The Large Movie Review Dataset: from the extracted folder or straight from
 * aclImdb_v1.tar.gz through libarchive. */
#include "datasets_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#define OP "cg_aclimdb_read"

typedef struct review {
    int split, label; /* split 0 train, 1 test; label 0 neg, 1 pos */
    int64_t id;
    size_t off, len; /* raw bytes in the collector's buffer */
} review;

typedef struct collector {
    bool want[2];
    dbuf raw;
    review *r;
    int64_t n, cap;
} collector;

static const char *const SPLITS[2] = {"train", "test"}, *const LABELS[2] = {"neg", "pos"};

static int find_name(const char *s, size_t n, const char *const names[2]) {
    for (int i = 0; i < 2; i++)
        if (strlen(names[i]) == n && memcmp(s, names[i], n) == 0) return i;
    return -1;
}

/* "<id>_<rating>.txt" -> id; -1 if the name does not fit. */
static int64_t review_id(const char *name) {
    int64_t id = 0, rating = 0;
    const char *p = name;
    if (*p < '0' || *p > '9') return -1;
    while (*p >= '0' && *p <= '9' && id < ((int64_t)1 << 50)) id = id * 10 + (*p++ - '0');
    if (*p++ != '_' || *p < '0' || *p > '9') return -1;
    while (*p >= '0' && *p <= '9' && rating < 1000) rating = rating * 10 + (*p++ - '0');
    return strcmp(p, ".txt") == 0 ? id : -1;
}

/* Classify "<...>/<split>/<label>/<id>_<rating>.txt"; false if it is not a wanted review. */
static bool classify(const collector *c, const char *path, review *rv) {
    const char *end = path + strlen(path), *slash[3] = {NULL, NULL, NULL};
    int k = 0;
    for (const char *p = end; p > path && k < 3;)
        if (*--p == '/') slash[k++] = p;
    if (k < 2) return false;
    const char *split = k == 3 ? slash[2] + 1 : path;
    rv->label = find_name(slash[1] + 1, (size_t)(slash[0] - slash[1] - 1), LABELS);
    rv->split = find_name(split, (size_t)(slash[1] - split), SPLITS);
    rv->id = review_id(slash[0] + 1);
    return rv->label >= 0 && rv->split >= 0 && rv->id >= 0 && c->want[rv->split];
}

static review *add_review(collector *c, const review *rv) {
    if (!grow_array((void **)&c->r, &c->cap, c->n + 1, sizeof *c->r)) return NULL;
    c->r[c->n] = *rv;
    c->r[c->n].off = c->raw.len;
    return &c->r[c->n++];
}

static cg_status read_archive(collector *c, const char *path) {
    struct archive *a = archive_read_new();
    if (!a) return cg_set_error(CG_ERR_NOMEM, OP ": out of memory");
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    cg_status st = CG_OK;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) goto bad;
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) goto bad;
        review rv, *p;
        if (archive_entry_filetype(e) != AE_IFREG || !classify(c, archive_entry_pathname(e), &rv)) continue;
        if (!(p = add_review(c, &rv))) {
            st = CG_ERR_NOMEM;
            goto done;
        }
        for (;;) {
            if (!dbuf_reserve(&c->raw, 1 << 16)) {
                st = CG_ERR_NOMEM;
                goto done;
            }
            la_ssize_t k = archive_read_data(a, c->raw.p + c->raw.len, c->raw.cap - c->raw.len - 1);
            if (k < 0) goto bad;
            if (k == 0) break;
            c->raw.len += (size_t)k;
        }
        p->len = c->raw.len - p->off;
    }
    goto done;
bad:
    st = cg_set_error(CG_ERR_IO, OP ": %s: truncated or corrupt archive (%s)", path,
                      archive_error_string(a) ? archive_error_string(a) : "read error");
done:
    archive_read_free(a);
    return st;
}

static cg_status read_folder(collector *c, const char *root) {
    char dir[4096], file[4096 + 300];
    for (int s = 0; s < 2; s++)
        for (int l = 0; c->want[s] && l < 2; l++) {
            if (snprintf(dir, sizeof dir, "%s/%s/%s", root, SPLITS[s], LABELS[l]) >= (int)sizeof dir)
                return cg_set_error(CG_ERR_IO, OP ": path too long: %s", root);
            DIR *d = opendir(dir);
            if (!d) return cg_set_error(CG_ERR_IO, OP ": cannot open folder %s: %s", dir, strerror(errno));
            struct dirent *de;
            while ((de = readdir(d))) {
                review rv = {.split = s, .label = l, .id = review_id(de->d_name)}, *p;
                if (rv.id < 0) continue;
                if (snprintf(file, sizeof file, "%s/%s", dir, de->d_name) >= (int)sizeof file) continue;
                size_t len;
                char *text = read_file(OP, file, &len);
                if (!text || !(p = add_review(c, &rv)) || !dbuf_put(&c->raw, text, len)) {
                    free(text);
                    closedir(d);
                    return cg_last_status();
                }
                free(text);
                p->len = len;
            }
            closedir(d);
        }
    return CG_OK;
}

static int by_label_id(const void *a, const void *b) {
    const review *x = a, *y = b;
    if (x->split != y->split) return x->split - y->split;
    if (x->label != y->label) return x->label - y->label;
    return x->id < y->id ? -1 : x->id > y->id;
}

static cg_text_corpus *make_corpus(const collector *c, int split, const char *path) {
    corpus_builder cb = {0};
    for (int64_t i = 0; i < c->n; i++)
        if (c->r[i].split == split && !cb_add(&cb, c->raw.p + c->r[i].off, c->r[i].len, c->r[i].label)) {
            cb_discard(&cb);
            return NULL;
        }
    if (cb.n == 0) {
        cg_set_error(CG_ERR_PARSE, OP ": %s: no reviews under %s/{neg,pos}/", path, SPLITS[split]);
        return NULL;
    }
    return cb_finish(&cb, NULL);
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

cg_status cg_aclimdb_read(const char *path, cg_text_corpus **train, cg_text_corpus **test) {
    if (train) *train = NULL;
    if (test) *test = NULL;
    if (!path) return cg_set_error(CG_ERR_NULL, OP ": path is NULL");
    struct stat st;
    if (stat(path, &st) != 0) return cg_set_error(CG_ERR_IO, OP ": cannot open %s: %s", path, strerror(errno));
    collector c = {.want = {train != NULL, test != NULL}};
    char buf[4096];
    const char *root = path;
    cg_status s;
    if (strlen(path) + 32 > sizeof buf) return cg_set_error(CG_ERR_IO, OP ": path too long: %s", path);
    if (S_ISDIR(st.st_mode)) {
        snprintf(buf, sizeof buf, "%s/train", path);
        if (!is_dir(buf)) {
            snprintf(buf, sizeof buf, "%s/aclImdb", path);
            if (!is_dir(buf)) snprintf(buf, sizeof buf, "%s/aclImdb_v1.tar.gz", path);
            root = buf;
        }
    }
    if (is_dir(root))
        s = read_folder(&c, root);
    else if (stat(root, &st) == 0)
        s = read_archive(&c, root);
    else
        s = cg_set_error(CG_ERR_IO, OP ": %s: no train/ folder, aclImdb/ folder or aclImdb_v1.tar.gz", path);
    if (s == CG_OK && c.n == 0)
        s = cg_set_error(CG_ERR_PARSE, OP ": %s holds no reviews (no {train,test}/{pos,neg}/<id>_<rating>.txt)", root);
    if (s == CG_OK) {
        qsort(c.r, (size_t)c.n, sizeof *c.r, by_label_id);
        if (train && !(*train = make_corpus(&c, 0, root))) s = cg_last_status();
        if (s == CG_OK && test && !(*test = make_corpus(&c, 1, root))) s = cg_last_status();
        if (s != CG_OK) {
            cg_text_corpus_free(train ? *train : NULL);
            if (train) *train = NULL;
        }
    }
    dbuf_free(&c.raw);
    free(c.r);
    return s;
}
