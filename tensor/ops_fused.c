/* Fused elementwise programs: a chain of unary/binary steps run block by
 * block over the elements, and its backward (each step's derivative rule in
 * reverse, on the step values the forward kept, or recomputed per block). */
#include "tensor_internal.h"
#include "elementwise_rules.h"

#include <stdio.h>

/* Elements per block: every register of a block fits in L1 together. */
#define BLK 128

/* ---------------------------------------------------------------- builder */

static int bad(cg_fused_prog *p, const char *fmt, int x) {
    if (!p->bad) {
        char what[160];
        snprintf(what, sizeof what, fmt, x);
        cg_set_error(CG_ERR_VALUE, "cg_fused program '%s': %s", p->name, what);
    }
    p->bad = true;
    return -1;
}

void cg_fused_begin(cg_fused_prog *p, const char *name) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name ? name : "fused");
}

int cg_fused_input(cg_fused_prog *p, int parts) {
    if (!p) return -1;
    if (p->n_steps) return bad(p, "input %d declared after a step; declare inputs first", p->n_in);
    if (p->n_in >= CG_FUSED_MAX_INPUTS) return bad(p, "more than %d inputs", CG_FUSED_MAX_INPUTS);
    if (parts < 1 || p->n_in_regs + parts > CG_FUSED_MAX_REGS) return bad(p, "input split into %d parts", parts);
    p->parts[p->n_in++] = (uint8_t)parts;
    p->n_in_regs += parts;
    return p->n_in_regs - parts;
}

static int n_regs(const cg_fused_prog *p) { return p->n_in_regs + p->n_steps; }

static int add_step(cg_fused_prog *p, bool binary, int op, int a, int b) {
    if (!p) return -1;
    if (p->bad) return -1;
    if (a < 0 || a >= n_regs(p) || (binary && (b < 0 || b >= n_regs(p))))
        return bad(p, "step %d reads a register that does not exist yet", p->n_steps);
    if (n_regs(p) >= CG_FUSED_MAX_REGS) return bad(p, "more than %d registers", CG_FUSED_MAX_REGS);
    p->steps[p->n_steps++] = (cg_fused_step){binary, (uint8_t)op, (uint8_t)a, (uint8_t)(binary ? b : a)};
    return n_regs(p) - 1;
}

/* The ops a step may be: every elementwise op with a derivative rule. */
static bool fusable(bool binary, int op) {
    if (binary) return op >= 0 && op < CG_BINOP_COUNT && !(cg__binop_reads[op] & CG_NO_DERIVATIVE);
    return op >= 0 && op < CG_UNOP_COUNT;
}

int cg_fused_unary(cg_fused_prog *p, cg_unop op, int a) {
    if (fusable(false, op)) return add_step(p, false, op, a, 0);
    return p ? bad(p, "unary op %d is not an elementwise op of CG_UNARY_OPS", op) : -1;
}

int cg_fused_binary(cg_fused_prog *p, cg_binop op, int a, int b) {
    if (fusable(true, op)) return add_step(p, true, op, a, b);
    return p ? bad(p, "binary op %d cannot be fused (comparisons have no derivative; add, sub, mul, div, pow, "
                      "maximum, minimum can)", op) : -1;
}

/* What the builder guarantees, checked again for a program filled in by
 * hand: counts in range, registers read before they are written, known ops. */
static bool prog_ok(const cg_fused_prog *p) {
    if (p->n_in < 1 || p->n_in > CG_FUSED_MAX_INPUTS || p->n_out < 1 || p->n_out > CG_FUSED_MAX_OUTPUTS ||
        p->n_steps < 0)
        return false;
    int regs = 0;
    for (int i = 0; i < p->n_in; i++) {
        if (p->parts[i] < 1) return false;
        regs += p->parts[i];
    }
    if (regs != p->n_in_regs || regs + p->n_steps > CG_FUSED_MAX_REGS) return false;
    for (int k = 0; k < p->n_steps; k++) {
        const cg_fused_step *s = &p->steps[k];
        if (!fusable(s->binary, s->op) || s->a >= regs + k || s->b >= regs + k) return false;
    }
    for (int j = 0; j < p->n_out; j++)
        if (p->out[j] >= regs + p->n_steps) return false;
    return true;
}

int cg_fused_output(cg_fused_prog *p, int r) {
    if (!p || p->bad) return -1;
    if (r < 0 || r >= n_regs(p)) return bad(p, "output register %d does not exist", r);
    if (p->n_out >= CG_FUSED_MAX_OUTPUTS) return bad(p, "more than %d outputs", CG_FUSED_MAX_OUTPUTS);
    p->out[p->n_out++] = (uint8_t)r;
    return p->n_out - 1;
}

/* ------------------------------------------------------------------- plan */

/* Element (r, c) of an operand over the [R, C] iteration space is at
 * p + (r * rs + c * cs) elements. */
typedef struct {
    char *p;
    int64_t rs, cs;
} opnd;

typedef struct {
    cg_dtype dt;
    size_t es;
    int ndim;
    int64_t shape[CG_MAX_DIMS]; /* the outputs' shape */
    int64_t R, C;               /* rows (all but the last dim) and columns */
    opnd reg[CG_FUSED_MAX_REGS]; /* the input registers */
    opnd gout[CG_FUSED_MAX_OUTPUTS];
    bool has_gout[CG_FUSED_MAX_OUTPUTS];
    opnd gin[CG_FUSED_MAX_REGS]; /* per input register, when its gradient is wanted */
    bool want[CG_FUSED_MAX_REGS];
    /* Values the backward reads, and where the forward keeps the steps' */
    bool read[CG_FUSED_MAX_REGS];
    int slot[CG_FUSED_MAX_REGS]; /* row of the keep tensor, or -1 */
    int n_keep;
    char *keep; /* [n_keep, R * C], or NULL: the backward recomputes */
} plan;

/* Which registers' values the steps' derivative rules read (their rows in
 * tensor.h say: an input, the output); the steps among them get a row of
 * the keep tensor. */
static void mark_reads(const cg_fused_prog *p, plan *pl) {
    memset(pl->read, 0, sizeof pl->read);
    for (int k = 0; k < p->n_steps; k++) {
        const cg_fused_step *s = &p->steps[k];
        int y = p->n_in_regs + k;
        unsigned r = s->binary ? cg__binop_reads[s->op] : cg__unop_reads[s->op];
        if (r & (s->binary ? CG_READS_A : CG_READS_X)) pl->read[s->a] = true;
        if (s->binary && (r & CG_READS_B)) pl->read[s->b] = true;
        if (r & CG_READS_Y) pl->read[y] = true;
    }
    pl->n_keep = 0;
    for (int r = 0; r < n_regs(p); r++) pl->slot[r] = r >= p->n_in_regs && pl->read[r] ? pl->n_keep++ : -1;
}

/* t's region [start, start + len) of its last dim, seen broadcast to the
 * plan's shape, as one row stride and one column stride; false if its
 * leading dims do not fold into one stride. */
static bool fold(const plan *pl, const cg_tensor *t, int64_t start, int64_t len, opnd *o) {
    int nd = pl->ndim, off = nd - t->ndim;
    int64_t st[CG_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        int td = d - off;
        int64_t size = td < 0 ? 1 : td == t->ndim - 1 ? len : t->shape[td];
        st[d] = size == 1 ? 0 : t->strides[td];
    }
    o->p = (char *)cg_data(t) + (size_t)(start * (t->ndim ? t->strides[t->ndim - 1] : 0)) * pl->es;
    o->cs = nd ? st[nd - 1] : 0;
    /* rows: each leading dim's stride must be rs times the rows inside it */
    o->rs = 0;
    bool set = false;
    int64_t inner = 1;
    for (int d = nd - 2; d >= 0; d--) {
        if (pl->shape[d] == 1) continue;
        if (!set) {
            o->rs = st[d]; /* the innermost row dim: nothing inside it yet */
            set = true;
        } else if (st[d] != o->rs * inner) {
            return false;
        }
        inner *= pl->shape[d];
    }
    return true;
}

/* An operand for t's piece k of `parts`: folded in place, or a contiguous
 * copy broadcast to the plan's shape when it does not fold. */
static bool operand(const plan *pl, const cg_tensor *t, int parts, int k, opnd *o) {
    int64_t len = t->ndim ? t->shape[t->ndim - 1] / parts : 1;
    if (fold(pl, t, k * len, len, o)) return true;
    cg_tensor *piece = parts > 1 ? cg_k_slice(t, -1, k * len, (k + 1) * len, 1) : (cg_tensor *)t;
    cg_tensor *c = piece ? cg_k_contiguous(cg_k_expand(piece, pl->shape, pl->ndim)) : NULL;
    return c && fold(pl, c, 0, pl->ndim ? pl->shape[pl->ndim - 1] : 1, o);
}

static cg_status make_plan(const char *fn, const cg_fused_prog *p, const cg_tensor *const *in, plan *pl) {
    if (!p || !in) return cg_set_error(CG_ERR_NULL, "%s: program or inputs are NULL", fn);
    if (p->bad) return cg_set_error(CG_ERR_VALUE, "%s: program '%s' was built with an error", fn, p->name);
    if (p->n_in < 1 || p->n_out < 1)
        return cg_set_error(CG_ERR_VALUE, "%s: program '%s' needs an input and an output", fn, p->name);
    if (!prog_ok(p))
        return cg_set_error(CG_ERR_VALUE, "%s: program '%.31s' is not one the builder makes (a count out of range, a "
                            "register read before it is written, or an unknown op)", fn, p->name);
    memset(pl, 0, sizeof *pl);
    for (int i = 0; i < p->n_in; i++) {
        const cg_tensor *t = in[i];
        if (!t) return cg__null_input(fn), cg_last_status();
        if (!cg_dtype_is_float(t->dtype) || t->dtype != in[0]->dtype)
            return cg_set_error(CG_ERR_DTYPE, "%s: program '%s': input %d is %s %s; all inputs must be one float dtype (input 0: %s)",
                                fn, p->name, i, cg_dtype_name(t->dtype), cg_shape_str(t), cg_dtype_name(in[0]->dtype));
        int64_t last = t->ndim ? t->shape[t->ndim - 1] : 1;
        if (p->parts[i] > 1 && (t->ndim == 0 || last % p->parts[i]))
            return cg_set_error(CG_ERR_SHAPE, "%s: program '%s': input %d (shape %s) does not split into %d equal parts along its last dim",
                                fn, p->name, i, cg_shape_str(t), p->parts[i]);
        int64_t piece[CG_MAX_DIMS], bshape[CG_MAX_DIMS];
        memcpy(piece, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        if (t->ndim) piece[t->ndim - 1] = last / p->parts[i];
        if (i == 0) {
            memcpy(pl->shape, piece, sizeof piece);
            pl->ndim = t->ndim;
        } else if (cg_broadcast_shape(pl->shape, pl->ndim, piece, t->ndim, bshape, &pl->ndim) == CG_OK) {
            memcpy(pl->shape, bshape, sizeof bshape);
        } else {
            return cg_set_error(CG_ERR_SHAPE, "%s: program '%s': input %d (shape %s) does not broadcast with the others",
                                fn, p->name, i, cg_shape_str(t));
        }
    }
    pl->dt = in[0]->dtype;
    pl->es = cg_dtype_size(pl->dt);
    pl->C = pl->ndim ? pl->shape[pl->ndim - 1] : 1;
    pl->R = 1;
    for (int d = 0; d + 1 < pl->ndim; d++) pl->R *= pl->shape[d];
    for (int i = 0, r = 0; i < p->n_in; r += p->parts[i], i++) {
        if (p->parts[i] > 1 && in[i]->shape[in[i]->ndim - 1] / p->parts[i] != pl->C)
            return cg_set_error(CG_ERR_SHAPE, "%s: program '%s': input %d (shape %s) is split into %d parts, whose last dim must be the outputs' (%lld)",
                                fn, p->name, i, cg_shape_str(in[i]), p->parts[i], (long long)pl->C);
        for (int k = 0; k < p->parts[i]; k++)
            if (!operand(pl, in[i], p->parts[i], k, &pl->reg[r + k])) return cg_last_status();
    }
    mark_reads(p, pl);
    return CG_OK;
}

/* Does the operand hold the flat elements in order, one after another? */
static inline bool flat(const plan *pl, const opnd *o) { return o->cs == 1 && (o->rs == pl->C || pl->R == 1); }

/* ----------------------------------------------------------------- kernels */

#define SIMD _Pragma("omp simd")
/* Blocks run whole vectors (64 bytes): a short row is padded, so that no
 * element takes the slow scalar path of a vector loop's tail. */
#define PAD(n, T) (((n) + (int64_t)(64 / sizeof(T)) - 1) / (int64_t)(64 / sizeof(T)) * (int64_t)(64 / sizeof(T)))
#define LOOP(body) SIMD for (int64_t i = 0; i < n; i++) body
/* d[i] = e, or d[i] += e */
#define PUT(set, d, e)                                                                             \
    do {                                                                                           \
        if (set) LOOP({ (d)[i] = (e); })                                                           \
        else LOOP({ (d)[i] += (e); })                                                              \
    } while (0)

CG_INLINE void copy_f32(float *restrict d, const float *restrict s, int64_t n) {
    cg__copy_vec((char *)d, (const char *)s, n * (int64_t)sizeof(float));
}
CG_INLINE void copy_f64(double *restrict d, const double *restrict s, int64_t n) {
    cg__copy_vec((char *)d, (const char *)s, n * (int64_t)sizeof(double));
}

#define T float
#define SFX f32
#include "fused_kernels.inc"
#undef T
#undef SFX
#define T double
#define SFX f64
#include "fused_kernels.inc"
#undef T
#undef SFX

static void run_block(const cg_fused_prog *p, const plan *pl, int64_t t, char **out) {
    bool f32 = pl->dt == CG_FLOAT32;
    if (out) {
        if (f32) fwd_block_f32(p, pl, t, out);
        else fwd_block_f64(p, pl, t, out);
    } else {
        if (f32) bwd_block_f32(p, pl, t);
        else bwd_block_f64(p, pl, t);
    }
}

/* Run every block, in parallel when there are enough elements (each block
 * is computed the same way whatever the thread count). */
static void run_blocks(const cg_fused_prog *p, const plan *pl, char **out) {
    int64_t nblocks = (pl->R * pl->C + BLK - 1) / BLK;
    /* Each element goes through every step, in the backward twice: the
     * grain counts element-steps, so that an LSTM cell on a batch of 32 x
     * 128 units splits across threads (measured: imdb_lstm +7%, median of
     * 10), while the 32 x 30 cells of the small models stay on one. */
    int nt = cg__threads_for(pl->R * pl->C * (p->n_steps + 1) * 2);
    if (nt > 1) {
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t t = 0; t < nblocks; t++) run_block(p, pl, t, out);
    } else { /* not even a one-thread parallel region: it costs a system call */
        for (int64_t t = 0; t < nblocks; t++) run_block(p, pl, t, out);
    }
}

/* ---------------------------------------------------------------- public */

cg_status cg_k_fused(const cg_fused_prog *p, const cg_tensor *const *in, cg_tensor **out, cg_tensor **keep) {
    plan pl;
    cg_status st = make_plan("cg_fused", p, in, &pl);
    if (st != CG_OK) return st;
    if (!out) return cg_set_error(CG_ERR_NULL, "cg_fused: program '%s': the output array is NULL", p->name);
    if (keep) {
        *keep = NULL;
        if (pl.n_keep) {
            if (!(*keep = cg__new(pl.dt, CG_SHAPE(pl.n_keep, pl.R * pl.C)))) return cg_last_status();
            pl.keep = cg_data(*keep);
        }
    }
    char *po[CG_FUSED_MAX_OUTPUTS];
    for (int j = 0; j < p->n_out; j++) {
        if (!(out[j] = cg__new(pl.dt, pl.shape, pl.ndim))) return cg_last_status();
        po[j] = cg_data(out[j]);
    }
    if (pl.R * pl.C > 0) run_blocks(p, &pl, po);
    return CG_OK;
}

cg_status cg_k_fused_backward(const cg_fused_prog *p, const cg_tensor *const *in, const cg_tensor *const *gout,
                              const bool *need, cg_tensor **gin, const cg_tensor *keep) {
    return cg_k_fused_backward_into(p, in, gout, need, gin, keep, NULL);
}

cg_status cg_k_fused_backward_into(const cg_fused_prog *p, const cg_tensor *const *in, const cg_tensor *const *gout,
                                   const bool *need, cg_tensor **gin, const cg_tensor *keep, cg_tensor *const *into) {
    plan pl;
    cg_status st = make_plan("cg_fused backward", p, in, &pl);
    if (st != CG_OK) return st;
    if (keep) {
        if (keep->dtype != pl.dt || keep->ndim != 2 || keep->shape[0] != pl.n_keep || keep->shape[1] != pl.R * pl.C ||
            !cg_is_contiguous(keep))
            return cg_set_error(CG_ERR_SHAPE, "cg_fused backward: program '%s': kept values are %s %s, expected %s [%d, %lld]",
                                p->name, cg_dtype_name(keep->dtype), cg_shape_str(keep), cg_dtype_name(pl.dt), pl.n_keep,
                                (long long)(pl.R * pl.C));
        pl.keep = cg_data(keep);
    }
    if (!gout || !gin) return cg_set_error(CG_ERR_NULL, "cg_fused backward: program '%s': gout or gin is NULL", p->name);
    for (int j = 0; j < p->n_out; j++) {
        const cg_tensor *g = gout[j];
        if (!g) continue;
        int64_t gs[CG_MAX_DIMS];
        int gnd;
        if (g->dtype != pl.dt || cg_broadcast_shape(g->shape, g->ndim, pl.shape, pl.ndim, gs, &gnd) != CG_OK ||
            gnd != pl.ndim || memcmp(gs, pl.shape, sizeof(int64_t) * (size_t)gnd))
            return cg_set_error(CG_ERR_SHAPE, "cg_fused backward: program '%s': gradient %d is %s %s, expected %s like the output",
                                p->name, j, cg_dtype_name(g->dtype), cg_shape_str(g), cg_dtype_name(pl.dt));
        if (!operand(&pl, g, 1, 0, &pl.gout[j])) return cg_last_status();
        pl.has_gout[j] = true;
    }
    cg_tensor *copy_to[CG_FUSED_MAX_INPUTS] = {NULL}; /* an `into` written through a temporary */
    for (int i = 0, r = 0; i < p->n_in; r += p->parts[i], i++) {
        gin[i] = NULL;
        if (need && !need[i]) continue;
        int64_t shape[CG_MAX_DIMS];
        memcpy(shape, pl.shape, sizeof shape);
        if (pl.ndim) shape[pl.ndim - 1] = pl.C * p->parts[i];
        cg_tensor *dst = into ? into[i] : NULL;
        if (dst && (dst->dtype != pl.dt || dst->ndim != pl.ndim ||
                    memcmp(dst->shape, shape, sizeof(int64_t) * (size_t)pl.ndim)))
            return cg_set_error(CG_ERR_SHAPE, "cg_fused backward: program '%s': the destination of input %d's gradient is %s %s, expected %s %s",
                                p->name, i, cg_dtype_name(dst->dtype), cg_shape_str(dst), cg_dtype_name(pl.dt),
                                cg_dims_str(shape, pl.ndim));
        bool in_place = dst != NULL; /* every piece folds with unit column stride */
        for (int k = 0; k < p->parts[i] && in_place; k++)
            in_place = fold(&pl, dst, k * pl.C, pl.C, &pl.gin[r + k]) && (pl.gin[r + k].cs == 1 || pl.C == 1);
        if (in_place) {
            gin[i] = dst;
        } else {
            if (!(gin[i] = cg__new(pl.dt, shape, pl.ndim))) return cg_last_status();
            copy_to[i] = dst;
            for (int k = 0; k < p->parts[i]; k++)
                pl.gin[r + k] = (opnd){(char *)cg_data(gin[i]) + (size_t)(k * pl.C) * pl.es, pl.C * p->parts[i], 1};
        }
        for (int k = 0; k < p->parts[i]; k++) pl.want[r + k] = true;
    }
    if (pl.R * pl.C > 0) run_blocks(p, &pl, NULL);
    for (int i = 0; i < p->n_in; i++)
        if (copy_to[i]) {
            if (!cg_k_copy_(copy_to[i], gin[i])) return cg_last_status();
            gin[i] = copy_to[i];
        }
    return CG_OK;
}
