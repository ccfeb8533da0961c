/* Scopes and arenas: bump allocation in blocks that are recycled through a
 * per-thread cache, so a loop of identical scoped steps stops calling malloc
 * after its first round. */
#include "tensor_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define ALIGN 64
#define STD_BLOCK ((size_t)1 << 20)    /* standard block: 1 MiB */
#define LARGE_MIN (STD_BLOCK / 4)      /* bigger requests get a block of their own */
#define LARGE_ROUND ((size_t)64 << 10) /* large blocks are sized in 64 KiB steps */
#define CACHE_MAX ((size_t)2 << 30)    /* cached bytes kept per thread */
#define SCOPE_MAGIC 0x5c09e5c0u

typedef struct block {
    struct block *next;
    size_t cap;  /* usable bytes after the header */
    size_t used;
} block;

#define HDR (((sizeof(block) + ALIGN - 1) / ALIGN) * ALIGN)

struct cg_scope {
    uint32_t magic;
    bool is_arena;
    bool entered;
    cg_scope *parent;
    block *blocks; /* standard blocks; head is the one being filled; the last holds this struct */
    block *large;
    uintptr_t slot;
};

static atomic_uint_fast64_t g_mallocs;
static atomic_size_t g_bytes;
static _Thread_local cg_scope *t_current;
static _Thread_local cg_scope *t_root;
static _Thread_local block *t_free_std;
static _Thread_local block *t_free_large;
static _Thread_local size_t t_cached;
static cg_scope_hook g_on_begin, g_on_end;
/* Blocks threads gave up (cg_scope_share_cache) for any thread to take. */
static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static block *g_pool;
static atomic_int g_pool_blocks; /* read without the lock: whether to look */

/* Bytes handed back by cg_scope_recycle, newest last; one pass at a time. */
#define RECYCLE_MAX 64
typedef struct {
    void *data;
    size_t nbytes;
} recycled;
static _Thread_local recycled t_rec[RECYCLE_MAX];
static _Thread_local int t_nrec;
static _Thread_local cg_scope *t_rec_scope; /* NULL: no pass */
/* One count for all threads: "made after" holds whichever thread made it. */
static atomic_uint_fast64_t g_serial;

uint64_t cg_heap_allocations(void) { return atomic_load(&g_mallocs); }
size_t cg_heap_bytes(void) { return atomic_load(&g_bytes); }

void cg_scope_set_hooks(cg_scope_hook on_begin, cg_scope_hook on_end) {
    g_on_begin = on_begin;
    g_on_end = on_end;
}

static block *block_malloc(size_t cap) {
    void *p = NULL;
    if (posix_memalign(&p, ALIGN, HDR + cap) != 0 || !p) return NULL;
    atomic_fetch_add(&g_mallocs, 1);
    atomic_fetch_add(&g_bytes, HDR + cap);
    block *b = p;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

static void block_release_to_system(block *b) {
    atomic_fetch_sub(&g_bytes, HDR + b->cap);
    free(b);
}

static void cache_put(block *b) {
    if (t_cached + b->cap > CACHE_MAX) {
        block_release_to_system(b);
        return;
    }
    b->used = 0;
    t_cached += b->cap;
    if (b->cap == STD_BLOCK) {
        b->next = t_free_std;
        t_free_std = b;
    } else {
        b->next = t_free_large;
        t_free_large = b;
    }
}

/* A shared block of exactly cap bytes (STD_BLOCK), or the best fit for a
 * large request of need bytes (no more than twice it); NULL if none. */
static block *pool_take(size_t need, bool std) {
    block *b = NULL;
    pthread_mutex_lock(&g_pool_lock);
    block **best = NULL;
    for (block **pp = &g_pool; *pp; pp = &(*pp)->next) {
        size_t c = (*pp)->cap;
        bool fits = std ? c == STD_BLOCK : c >= need && c <= 2 * need;
        if (fits && (!best || c < (*best)->cap)) best = pp;
        if (fits && std) break;
    }
    if (best) {
        b = *best;
        *best = b->next;
        b->next = NULL;
        b->used = 0;
        atomic_fetch_sub(&g_pool_blocks, 1);
    }
    pthread_mutex_unlock(&g_pool_lock);
    return b;
}

void cg_scope_share_cache(void) {
    block *lists[2] = {t_free_std, t_free_large};
    t_free_std = t_free_large = NULL;
    t_cached = 0;
    pthread_mutex_lock(&g_pool_lock);
    for (int i = 0; i < 2; i++)
        for (block *b = lists[i], *next; b; b = next) {
            next = b->next;
            b->next = g_pool;
            g_pool = b;
            atomic_fetch_add(&g_pool_blocks, 1);
        }
    pthread_mutex_unlock(&g_pool_lock);
}

static block *get_std_block(void) {
    block *b = t_free_std;
    if (b) {
        t_free_std = b->next;
        t_cached -= b->cap;
        b->next = NULL;
        b->used = 0;
        return b;
    }
    b = atomic_load_explicit(&g_pool_blocks, memory_order_relaxed) ? pool_take(STD_BLOCK, true) : NULL;
    return b ? b : block_malloc(STD_BLOCK);
}

/* Best fit among cached large blocks no more than twice the request. */
static block *get_large_block(size_t need) {
    block **best = NULL;
    for (block **pp = &t_free_large; *pp; pp = &(*pp)->next) {
        size_t c = (*pp)->cap;
        if (c >= need && c <= 2 * need && (!best || c < (*best)->cap)) best = pp;
    }
    if (best) {
        block *b = *best;
        *best = b->next;
        t_cached -= b->cap;
        b->next = NULL;
        b->used = 0;
        return b;
    }
    size_t cap = (need + LARGE_ROUND - 1) / LARGE_ROUND * LARGE_ROUND;
    /* a large block of exactly the standard size is cached with the
     * standard ones (cache_put goes by size): look for it there */
    if (cap == STD_BLOCK && t_free_std) return get_std_block();
    block *b = atomic_load_explicit(&g_pool_blocks, memory_order_relaxed) ? pool_take(need, cap == STD_BLOCK) : NULL;
    return b ? b : block_malloc(cap);
}

static cg_scope *scope_create(bool is_arena) {
    block *b = get_std_block();
    if (!b) {
        cg_set_error(CG_ERR_NOMEM, "cg_scope_begin: out of memory");
        return NULL;
    }
    cg_scope *s = (cg_scope *)((char *)b + HDR);
    b->used = (sizeof(cg_scope) + ALIGN - 1) / ALIGN * ALIGN;
    memset(s, 0, sizeof *s);
    s->magic = SCOPE_MAGIC;
    s->is_arena = is_arena;
    s->blocks = b;
    return s;
}

static void scope_release(cg_scope *s) {
    for (block *b = s->large, *n; b; b = n) {
        n = b->next;
        cache_put(b);
    }
    /* The last standard block holds the scope struct itself: release it last. */
    s->magic = 0;
    for (block *b = s->blocks, *n; b; b = n) {
        n = b->next;
        cache_put(b);
    }
}

static cg_scope *root(void) {
    if (!t_root) t_root = scope_create(true);
    return t_root;
}

cg_scope *cg_scope_current(void) { return t_current ? t_current : root(); }

void *cg_arena_alloc(cg_scope *s, size_t nbytes, bool zero) {
    if (!s) return NULL;
    size_t need = (nbytes + ALIGN - 1) / ALIGN * ALIGN;
    if (need == 0) need = ALIGN;
    void *p;
    if (need >= LARGE_MIN) {
        block *b = get_large_block(need);
        if (!b) goto oom;
        b->next = s->large;
        s->large = b;
        b->used = need;
        p = (char *)b + HDR;
    } else {
        block *b = s->blocks;
        if (b->cap - b->used < need) {
            b = get_std_block();
            if (!b) goto oom;
            b->next = s->blocks;
            s->blocks = b;
        }
        p = (char *)b + HDR + b->used;
        b->used += need;
    }
    if (zero) memset(p, 0, nbytes);
    return p;
oom:
    cg_set_error(CG_ERR_NOMEM, "cgrad: out of memory allocating %zu bytes", nbytes);
    return NULL;
}

void *cg_scope_alloc(size_t nbytes, bool zero) { return cg_arena_alloc(cg_scope_current(), nbytes, zero); }
void *cg__alloc(size_t nbytes) { return cg_arena_alloc(cg_scope_current(), nbytes, false); }

cg_scope *cg_scope_begin(void) {
    cg_scope *s = scope_create(false);
    if (!s) return NULL;
    s->parent = t_current;
    t_current = s;
    if (g_on_begin) g_on_begin(s, &s->slot);
    return s;
}

void cg_scope_end(cg_scope *s) {
    if (!s || s->magic != SCOPE_MAGIC || s->is_arena) {
        cg_set_error(CG_ERR_STATE, "cg_scope_end: not an open scope");
        return;
    }
    if (s != t_current) {
        cg_set_error(CG_ERR_STATE,
                     "cg_scope_end: scopes must end innermost first (an inner scope or an entered "
                     "arena is still open)");
        return;
    }
    if (g_on_end) g_on_end(s, &s->slot);
    t_current = s->parent;
    if (s == t_rec_scope) cg_scope_recycle_end();
    scope_release(s);
}

cg_scope *cg_arena_new(void) { return scope_create(true); }

void cg_scope_recycle_begin(void) {
    t_rec_scope = cg_scope_current();
    t_nrec = 0;
}

void cg_scope_recycle_end(void) {
    t_rec_scope = NULL;
    t_nrec = 0;
}

bool cg_scope_recycle(const cg_tensor *t) {
    if (!t || !t_rec_scope || t_nrec == RECYCLE_MAX) return false;
    const cg_storage *st = t->storage;
    if (!st || st->scope != t_rec_scope || st->serial == 0 || t->offset != 0 || !cg_is_contiguous(t) ||
        (size_t)cg_numel(t) * cg_dtype_size(t->dtype) != st->nbytes || st->nbytes == 0)
        return false;
    for (int k = 0; k < t_nrec; k++)
        if (t_rec[k].data == st->data) return false; /* handed back already */
    t_rec[t_nrec++] = (recycled){st->data, st->nbytes};
    return true;
}

uint64_t cg_alloc_serial(void) { return atomic_load_explicit(&g_serial, memory_order_relaxed); }

void *cg__recycled(cg_scope *s, size_t nbytes, uint64_t *serial) {
    *serial = atomic_fetch_add_explicit(&g_serial, 1, memory_order_relaxed) + 1;
    if (s != t_rec_scope) return NULL;
    for (int k = t_nrec - 1; k >= 0; k--)
        if (t_rec[k].nbytes == nbytes) {
            void *p = t_rec[k].data;
            memmove(&t_rec[k], &t_rec[k + 1], sizeof(recycled) * (size_t)(t_nrec - 1 - k));
            t_nrec--;
            return p;
        }
    return NULL;
}

void cg_scope_enter(cg_scope *a) {
    if (!a || a->magic != SCOPE_MAGIC || !a->is_arena || a->entered) {
        cg_set_error(CG_ERR_STATE, "cg_scope_enter: not a free-standing arena (or already entered)");
        return;
    }
    a->parent = t_current;
    a->entered = true;
    t_current = a;
    if (g_on_begin) g_on_begin(a, &a->slot);
}

void cg_scope_leave(cg_scope *a) {
    if (!a || a != t_current || !a->entered) {
        cg_set_error(CG_ERR_STATE, "cg_scope_leave: the arena is not the innermost entered one");
        return;
    }
    if (g_on_end) g_on_end(a, &a->slot);
    t_current = a->parent;
    a->parent = NULL;
    a->entered = false;
}

cg_scope *cg_scope_redirect(cg_scope *s) {
    cg_scope *old = cg_scope_current();
    t_current = s;
    return old;
}

void cg_arena_free(cg_scope *a) {
    if (!a) return;
    if (a->magic != SCOPE_MAGIC || !a->is_arena || a->entered || a == t_root) {
        cg_set_error(CG_ERR_STATE, "cg_arena_free: not a free-standing arena, or still entered");
        return;
    }
    if (a == t_rec_scope) cg_scope_recycle_end();
    scope_release(a);
}

cg_tensor *cg_scope_keep(const cg_tensor *t) {
    CG_CHECK_NULL1("cg_scope_keep", t);
    cg_scope *cur = t_current;
    if (!cur || cur->is_arena) return (cg_tensor *)t;
    t_current = cur->parent;
    cg_tensor *c = cg_clone(t);
    t_current = cur;
    return c;
}

void cg_scope_trim(void) {
    for (block *b = t_free_std, *n; b; b = n) {
        n = b->next;
        block_release_to_system(b);
    }
    for (block *b = t_free_large, *n; b; b = n) {
        n = b->next;
        block_release_to_system(b);
    }
    t_free_std = t_free_large = NULL;
    t_cached = 0;
}

void cg_cleanup(void) {
    cg_scope_recycle_end();
    while (t_current) {
        cg_scope *s = t_current;
        t_current = s->parent;
        if (s->is_arena) {
            if (g_on_end) g_on_end(s, &s->slot);
            s->entered = false;
            s->parent = NULL;
        } else {
            if (g_on_end) g_on_end(s, &s->slot);
            scope_release(s);
        }
    }
    if (t_root) {
        scope_release(t_root);
        t_root = NULL;
    }
    cg_scope_trim();
    pthread_mutex_lock(&g_pool_lock);
    block *all = g_pool;
    g_pool = NULL;
    atomic_store(&g_pool_blocks, 0);
    pthread_mutex_unlock(&g_pool_lock);
    for (block *b = all, *n; b; b = n) {
        n = b->next;
        block_release_to_system(b);
    }
}
