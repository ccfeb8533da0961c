/* libFuzzer target for the aclImdb archive reader: any bytes handed to
 * cg_aclimdb_read as a .tar.gz give two corpora or an error, never a crash,
 * a leak or an out-of-bounds read. Accepted corpora hold valid UTF-8 texts
 * with labels 0/1, negatives first. Build and run with tests/fuzz/run.sh. */
#include "datasets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check(const cg_text_corpus *c) {
    if (!c) return;
    for (int64_t i = 0; i < c->n; i++) {
        if (!c->texts[i] || (c->labels[i] != 0 && c->labels[i] != 1)) abort();
        if (i > 0 && c->labels[i] < c->labels[i - 1]) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[] = "/tmp/fuzz_aclimdb_XXXXXX.tar.gz";
    int fd = mkstemps(path, 7);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    cg_text_corpus *train = NULL, *test = NULL;
    if (cg_aclimdb_read(path, &train, &test) == CG_OK) {
        check(train);
        check(test);
    }
    cg_text_corpus_free(train);
    cg_text_corpus_free(test);
    unlink(path);
    cg_clear_error();
    return 0;
}
