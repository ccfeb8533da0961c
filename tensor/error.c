/* Errors: a thread-local message and status; CG_ABORT_ON_ERROR turns the
 * first error into an abort for debugging. */
#include "tensor_internal.h"

#include <stdarg.h>
#include <stdlib.h>

static _Thread_local char g_msg[1024];
static _Thread_local cg_status g_status = CG_OK;

const char *cg_last_error(void) { return g_msg; }
cg_status cg_last_status(void) { return g_status; }

void cg_clear_error(void) {
    g_msg[0] = '\0';
    g_status = CG_OK;
}

static bool abort_on_error(void) {
    const char *v = getenv("CG_ABORT_ON_ERROR");
    return v && v[0] && strcmp(v, "0") != 0;
}

cg_status cg_set_error(cg_status code, const char *fmt, ...) {
    /* formatted apart first: an argument may be cg_last_error() itself (a
     * message wrapped with more context) */
    char msg[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(g_msg, msg, sizeof g_msg);
    g_status = code;
    if (abort_on_error()) {
        fprintf(stderr, "cgrad error (CG_ABORT_ON_ERROR): %s\n", g_msg);
        fflush(stderr);
        abort();
    }
    return code;
}

void *cg__null_input(const char *op) {
    /* Keep the first cause: a NULL usually comes from an op that already
     * failed and said why. */
    if (g_status == CG_OK) cg_set_error(CG_ERR_NULL, "%s: input is NULL", op);
    return NULL;
}

const char *cg_dims_str(const int64_t *shape, int ndim) {
    static _Thread_local char bufs[8][8 * 24 + 4];
    static _Thread_local int next;
    char *b = bufs[next];
    next = (next + 1) % 8;
    size_t n = 0;
    b[n++] = '[';
    for (int i = 0; i < ndim && i < CG_MAX_DIMS; i++)
        n += (size_t)snprintf(b + n, sizeof bufs[0] - n, i ? ",%lld" : "%lld", (long long)shape[i]);
    b[n++] = ']';
    b[n] = '\0';
    return b;
}

const char *cg_shape_str(const cg_tensor *t) {
    if (!t) return "NULL";
    return cg_dims_str(t->shape, t->ndim);
}

int cg__axis(const char *op, int axis, int ndim) {
    int a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim || ndim == 0) {
        cg_set_error(CG_ERR_INDEX, "%s: axis %d is out of range for a tensor with %d dims", op, axis,
                     ndim);
        return -1;
    }
    return a;
}
