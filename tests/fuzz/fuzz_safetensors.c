/* libFuzzer target for the safetensors reader: any bytes must give either a
 * valid file object or an error, never a crash, a leak or an out-of-bounds
 * read. Accepted inputs are read back completely and must survive a
 * save/open round trip unchanged.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Itensor \
 *       tests/fuzz/fuzz_safetensors.c $(find tensor -name '*.c') -lblis -lcjson -lm -fopenmp -o fuzz_safetensors
 *   ./fuzz_safetensors tests/fuzz/corpus/safetensors/
 */
#include "tensor.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Internal to tensor/safetensors.c (what cg_safetensors_open uses after
 * reading the file): validates a whole file held in a malloc'ed buffer and
 * takes ownership of it. */
cg_safetensors *cg__safetensors_parse(const char *label, unsigned char *buf, size_t size);

static char g_tmp[64];

static void same_tensor(const cg_tensor *a, const cg_tensor *b) {
    size_t n = (size_t)cg_numel(a) * cg_dtype_size(a->dtype);
    if (!b || a->dtype != b->dtype || a->ndim != b->ndim || memcmp(a->shape, b->shape, sizeof(int64_t) * a->ndim) ||
        (n && memcmp(cg_data(a), cg_data(b), n)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_tmp[0]) snprintf(g_tmp, sizeof g_tmp, "/tmp/fuzz_safetensors.%ld", (long)getpid());
    unsigned char *buf = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    cg_scope *s = cg_scope_begin();
    cg_safetensors *f = cg__safetensors_parse("<fuzz>", buf, size);
    if (!f) {
        if (cg_last_status() == CG_OK || !cg_last_error()[0]) abort(); /* a failure must say why */
    } else {
        int n = cg_safetensors_count(f);
        cg_named_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
        for (int i = 0; i < n; i++) {
            const char *name = cg_safetensors_name(f, i);
            cg_dtype dt;
            int64_t shape[CG_MAX_DIMS];
            int ndim;
            if (!name || !cg_safetensors_info(f, name, &dt, shape, &ndim)) abort();
            cg_tensor *t = cg_safetensors_get(f, name);
            if (!t || t->dtype != dt || t->ndim != ndim || memcmp(t->shape, shape, sizeof(int64_t) * ndim)) abort();
            ts[i] = (cg_named_tensor){name, t};
        }
        cg_safetensors_meta(f, "format");
        if (cg_safetensors_save(g_tmp, ts, n, NULL, NULL, 0) != CG_OK) abort();
        cg_safetensors *g = cg_safetensors_open(g_tmp);
        if (!g || cg_safetensors_count(g) != n) abort();
        for (int i = 0; i < n; i++) same_tensor(ts[i].tensor, cg_safetensors_get(g, ts[i].name));
        cg_safetensors_close(g);
        unlink(g_tmp);
        free(ts);
        cg_safetensors_close(f);
    }
    cg_scope_end(s);
    cg_clear_error();
    return 0;
}
