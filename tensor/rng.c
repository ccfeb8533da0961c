/* Philox-4x32-10 counter-based random numbers: block b of seed s is a pure
 * function of (s, b), so a tensor's i-th value never depends on threads. */
#include "tensor_internal.h"

static cg_rng g_default = {0x2545F4914F6CDD1DULL, 0};

/* A thread's forked streams: one per generator drawn from while it is set. */
typedef struct fork_entry {
    cg_rng *orig;
    cg_rng stream;
    struct fork_entry *next;
} fork_entry;
struct cg_rng_fork {
    uint64_t key;
    fork_entry *head;
};
static _Thread_local cg_rng_fork *t_fork;

static uint64_t mix64(uint64_t z) { /* splitmix64's finalizer */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The generator a draw uses: the default for NULL, and under a fork the
 * stream forked from it (made on first use; the original if that fails). */
static cg_rng *use(cg_rng *r) {
    if (!r) r = &g_default;
    if (!t_fork) return r;
    fork_entry *e = t_fork->head;
    while (e && e->orig != r) e = e->next;
    if (!e) {
        if (!(e = cg_scope_alloc(sizeof *e, false))) return r;
        e->orig = r;
        e->stream = cg_rng_seeded(mix64(r->seed ^ mix64(r->counter ^ mix64(t_fork->key + 0x9E3779B97F4A7C15ULL))));
        e->next = t_fork->head;
        t_fork->head = e;
    }
    return &e->stream;
}

cg_rng_fork *cg_rng_fork_begin(uint64_t key) {
    cg_rng_fork *f = cg_scope_alloc(sizeof *f, true);
    if (f) f->key = key;
    t_fork = f;
    return f;
}

void cg_rng_fork_end(void) { t_fork = NULL; }

void cg_rng_fork_advance(cg_rng_fork *const *forks, int n) {
    for (int i = 0; i < n; i++)
        for (fork_entry *e = forks[i] ? forks[i]->head : NULL; e; e = e->next) {
            bool seen = false; /* by an earlier fork: advanced already */
            for (int j = 0; j < i && !seen; j++)
                for (fork_entry *o = forks[j] ? forks[j]->head : NULL; o && !seen; o = o->next) seen = o->orig == e->orig;
            if (!seen) e->orig->counter++;
        }
}

cg_rng cg_rng_seeded(uint64_t seed) { return (cg_rng){seed, 0}; }
cg_rng *cg_default_rng(void) { return &g_default; }
void cg_manual_seed(uint64_t seed) { g_default = cg_rng_seeded(seed); }

static inline void philox(uint64_t seed, uint64_t block, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

static inline double u01_32(uint32_t x) { return (double)(x >> 8) * (1.0 / 16777216.0); }
static inline double u01_64(uint32_t hi, uint32_t lo) {
    return (double)((((uint64_t)hi << 32) | lo) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t cg_rng_u64(cg_rng *r) {
    r = use(r);
    uint32_t o[4];
    philox(r->seed, r->counter++, o);
    return ((uint64_t)o[0] << 32) | o[1];
}

double cg_rng_uniform(cg_rng *r) { return (double)(cg_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

double cg_rng_normal(cg_rng *r) {
    r = use(r);
    uint32_t o[4];
    philox(r->seed, r->counter++, o);
    double u1 = 1.0 - u01_64(o[0], o[1]), u2 = u01_64(o[2], o[3]), s, c;
    cg_vsincos2pi(u2, &s, &c);
    return sqrt(-2.0 * cg_vlog(u1)) * c;
}

typedef enum { D_UNIFORM, D_NORMAL, D_INT, D_BERNOULLI } dist;

typedef struct {
    dist kind;
    double a, b; /* uniform [a,b), normal mean a std b, bernoulli p = a */
    int64_t lo;
    uint64_t range;
} dspec;

/* Values per Philox block: 4 for 32-bit floats, 2 for doubles and int64. */
static int per_block(cg_dtype dt, dist k) {
    if (k == D_INT) return 2;
    return dt == CG_FLOAT32 ? 4 : 2;
}

/* Fill v (and iv, exact, for integers: a double cannot hold every int64). */
static void fill_block(const dspec *d, cg_dtype dt, const uint32_t o[4], double v[4], int64_t iv[2]) {
    if (d->kind == D_INT) {
        for (int j = 0; j < 2; j++) {
            uint64_t x = ((uint64_t)o[2 * j] << 32) | o[2 * j + 1];
            iv[j] = (int64_t)((uint64_t)d->lo + x % d->range); /* unsigned: no overflow */
            v[j] = (double)iv[j];
        }
        return;
    }
    double u[4];
    int m = per_block(dt, d->kind);
    if (m == 4)
        for (int j = 0; j < 4; j++) u[j] = u01_32(o[j]);
    else
        u[0] = u01_64(o[0], o[1]), u[1] = u01_64(o[2], o[3]);
    switch (d->kind) {
    case D_UNIFORM:
        for (int j = 0; j < m; j++) v[j] = d->a + (d->b - d->a) * u[j];
        break;
    case D_BERNOULLI:
        for (int j = 0; j < m; j++) v[j] = u[j] < d->a ? 1.0 : 0.0;
        break;
    case D_NORMAL:
        for (int j = 0; j < m; j += 2) {
            double r = sqrt(-2.0 * cg_vlog(1.0 - u[j])), s, c;
            cg_vsincos2pi(u[j + 1], &s, &c);
            v[j] = d->a + d->b * r * c;
            v[j + 1] = d->a + d->b * r * s;
        }
        break;
    default: break;
    }
}

static cg_tensor *generate(const char *op, cg_rng *r, cg_dtype dt, const int64_t *shape, int ndim, const dspec *d) {
    r = use(r);
    cg_tensor *t = cg_empty(dt, shape, ndim);
    if (!t) return NULL;
    int64_t n = cg_numel(t);
    int m = per_block(dt, d->kind);
    int64_t nblocks = (n + m - 1) / m;
    uint64_t start = r->counter;
    char *base = cg_data(t);
    int nt = cg__threads_for(n);
    (void)op;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t b = 0; b < nblocks; b++) {
        uint32_t o[4];
        double v[4] = {0};
        int64_t iv[2] = {0};
        philox(r->seed, start + (uint64_t)b, o);
        fill_block(d, dt, o, v, iv);
        for (int j = 0; j < m && b * m + j < n; j++) {
            int64_t i = b * m + j;
            switch (dt) {
            case CG_FLOAT32: ((float *)base)[i] = (float)v[j]; break;
            case CG_FLOAT64: ((double *)base)[i] = v[j]; break;
            case CG_INT64: ((int64_t *)base)[i] = d->kind == D_INT ? iv[j] : (int64_t)v[j]; break;
            }
        }
    }
    r->counter = start + (uint64_t)nblocks;
    return t;
}

static bool need_float(const char *op, cg_dtype dt) {
    if (cg_dtype_is_float(dt)) return true;
    cg_set_error(CG_ERR_DTYPE, "%s: needs a float dtype, got %s", op, cg_dtype_name(dt));
    return false;
}

cg_tensor *cg_uniform(cg_rng *r, cg_dtype dt, double lo, double hi, const int64_t *shape, int ndim) {
    if (!need_float("cg_uniform", dt)) return NULL;
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi)) {
        cg_set_error(CG_ERR_VALUE, "cg_uniform: [%g, %g) is not a finite interval", lo, hi);
        return NULL;
    }
    dspec d = {D_UNIFORM, lo, hi, 0, 0};
    return generate("cg_uniform", r, dt, shape, ndim, &d);
}

cg_tensor *cg_rand(cg_rng *r, cg_dtype dt, const int64_t *shape, int ndim) {
    if (!need_float("cg_rand", dt)) return NULL;
    return cg_uniform(r, dt, 0, 1, shape, ndim);
}

cg_tensor *cg_normal(cg_rng *r, cg_dtype dt, double mean, double std, const int64_t *shape, int ndim) {
    if (!need_float("cg_normal", dt)) return NULL;
    if (!(std >= 0) || !isfinite(mean) || !isfinite(std)) {
        cg_set_error(CG_ERR_VALUE, "cg_normal: mean %g, std %g: need finite values and std >= 0", mean, std);
        return NULL;
    }
    dspec d = {D_NORMAL, mean, std, 0, 0};
    return generate("cg_normal", r, dt, shape, ndim, &d);
}

cg_tensor *cg_randn(cg_rng *r, cg_dtype dt, const int64_t *shape, int ndim) {
    if (!need_float("cg_randn", dt)) return NULL;
    return cg_normal(r, dt, 0, 1, shape, ndim);
}

cg_tensor *cg_randint(cg_rng *r, cg_dtype dt, int64_t low, int64_t high, const int64_t *shape, int ndim) {
    if (high <= low) {
        cg_set_error(CG_ERR_VALUE, "cg_randint: empty range [%lld, %lld)", (long long)low, (long long)high);
        return NULL;
    }
    dspec d = {D_INT, 0, 0, low, (uint64_t)high - (uint64_t)low};
    return generate("cg_randint", r, dt, shape, ndim, &d);
}

cg_tensor *cg_bernoulli(cg_rng *r, cg_dtype dt, double p, const int64_t *shape, int ndim) {
    if (!(p >= 0 && p <= 1)) {
        cg_set_error(CG_ERR_VALUE, "cg_bernoulli: p = %g is not in [0, 1]", p);
        return NULL;
    }
    dspec d = {D_BERNOULLI, p, 0, 0, 0};
    /* int64 draws use the double path (2 per block) */
    return generate("cg_bernoulli", r, dt, shape, ndim, &d);
}

cg_tensor *cg_randperm(cg_rng *r, int64_t n) {
    if (n < 0) {
        cg_set_error(CG_ERR_VALUE, "cg_randperm: n = %lld must be >= 0", (long long)n);
        return NULL;
    }
    cg_tensor *t = cg_empty(CG_INT64, &n, 1);
    if (!t) return NULL;
    int64_t *p = cg_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(cg_rng_u64(r) % (uint64_t)(i + 1));
        int64_t tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
    return t;
}
