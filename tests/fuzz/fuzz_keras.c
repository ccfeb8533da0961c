/* libFuzzer target for the .keras reader: any bytes, as a .keras file, must
 * give a model or an error that says why, never a crash, a leak or an
 * out-of-bounds read. Bytes that start with '{' also go to
 * cg_keras_from_config as a config.json. A model that loads is saved as
 * .keras and read back, and must come back with the same parameters.
 *
 * The weights member of a .keras archive is checked by its zip CRC before
 * HDF5 sees it, so mutations there end in the zip reader; the configuration
 * is fuzzed through the '{' inputs. Bytes that are an HDF5 file (a legacy
 * .h5) are not passed on: they would fuzz the HDF5 library itself, and
 * Debian's libhdf5 1.10.8 loops forever on some malformed files (this
 * target found one: a global-heap read in H5Aread of a damaged attribute).
 * Build and run with tests/fuzz/run.sh. */
#include "nn.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_tmp[64];

static void same_model(const cg_module *a, const cg_module *b) {
    cg_tensor *pa[64], *pb[64];
    int na = cg_module_parameters(a, pa, 64), nb = cg_module_parameters(b, pb, 64);
    if (na != nb) abort();
    for (int i = 0; i < na && i < 64; i++)
        if (cg_numel(pa[i]) != cg_numel(pb[i]) || memcmp(cg_data(pa[i]), cg_data(pb[i]), (size_t)cg_numel(pa[i]) * 4))
            abort();
}

static void check(cg_module *m) {
    if (!m) {
        if (cg_last_status() == CG_OK || !cg_last_error()[0]) abort(); /* a failure must say why */
        return;
    }
    if (cg_keras_save(m, g_tmp, NULL) == CG_OK) {
        cg_module *back = cg_keras_load(g_tmp, NULL);
        if (!back) abort(); /* what cgrad writes, it reads */
        same_model(m, back);
        cg_module_free(back);
        unlink(g_tmp);
    } else if (!cg_last_error()[0]) {
        abort();
    }
    cg_module_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_tmp[0]) snprintf(g_tmp, sizeof g_tmp, "/tmp/fuzz_keras.%ld.keras", (long)getpid());
    unsigned char *buf = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    static const unsigned char hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    bool is_hdf5 = false;
    for (size_t off = 0; off + 8 <= size && off <= 4096 && !is_hdf5; off = off ? off * 2 : 512)
        is_hdf5 = memcmp(data + off, hdf5, 8) == 0;
    if (!is_hdf5) {
        cg_keras_extra ex;
        check(cg_keras_load_memory(buf, size, "<fuzz>", &ex));
        cg_keras_extra_free(&ex);
    }
    /* configurations with sizes of 5 digits or more are left out: they are
     * legal, and would only measure the allocator */
    bool big = false;
    for (size_t i = 0, run = 0; i < size && !big; i++) big = (run = data[i] >= '0' && data[i] <= '9' ? run + 1 : 0) >= 5;
    if (size && data[0] == '{' && size < (1 << 20) && !big) {
        char *text = malloc(size + 1);
        memcpy(text, data, size);
        text[size] = 0;
        check(cg_keras_from_config(text, "<fuzz>"));
        free(text);
    }
    free(buf);
    cg_clear_error();
    return 0;
}
