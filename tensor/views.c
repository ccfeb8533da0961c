/* Views: new shape/strides/offset over the same storage, never a copy
 * (except cg_k_reshape when no view exists, as torch.reshape does). */
#include "tensor_internal.h"

/* Resolve a -1 in `shape` against numel; checks the product. */
static bool infer_shape(const char *op, const cg_tensor *x, const int64_t *shape, int ndim, int64_t *out) {
    if (ndim < 0 || ndim > CG_MAX_DIMS || (ndim > 0 && !shape)) {
        cg_set_error(CG_ERR_SHAPE, "%s: bad target rank %d", op, ndim);
        return false;
    }
    int neg = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1) {
            if (neg >= 0) {
                cg_set_error(CG_ERR_SHAPE, "%s: only one size may be -1 in %s", op, cg_dims_str(shape, ndim));
                return false;
            }
            neg = i;
        } else if (shape[i] < 0) {
            cg_set_error(CG_ERR_SHAPE, "%s: negative size in %s", op, cg_dims_str(shape, ndim));
            return false;
        } else {
            known *= shape[i];
        }
        out[i] = shape[i];
    }
    int64_t n = cg_numel(x);
    if (neg >= 0) {
        if (known == 0 || n % known != 0) {
            cg_set_error(CG_ERR_SHAPE, "%s: cannot reshape %s (%lld elements) to %s", op, cg_shape_str(x),
                         (long long)n, cg_dims_str(shape, ndim));
            return false;
        }
        out[neg] = n / known;
    } else if (known != n) {
        cg_set_error(CG_ERR_SHAPE, "%s: cannot reshape %s (%lld elements) to %s (%lld elements)", op,
                     cg_shape_str(x), (long long)n, cg_dims_str(shape, ndim), (long long)known);
        return false;
    }
    return true;
}

/* Strides for viewing x with new shape, if the memory layout allows it. */
static bool view_strides(const cg_tensor *x, const int64_t *nshape, int nnd, int64_t *nstr) {
    if (cg_numel(x) == 0 || nnd == 0) {
        cg__contig_strides(nshape, nnd, nstr);
        return true;
    }
    int64_t oshape[CG_MAX_DIMS], ostr[CG_MAX_DIMS];
    int ond = x->ndim;
    if (ond == 0) {
        ond = 1;
        oshape[0] = 1;
        ostr[0] = 1;
    } else {
        memcpy(oshape, x->shape, sizeof(int64_t) * (size_t)ond);
        memcpy(ostr, x->strides, sizeof(int64_t) * (size_t)ond);
    }
    int view_d = nnd - 1;
    int64_t chunk_base = ostr[ond - 1];
    int64_t tensor_numel = 1, view_numel = 1;
    for (int td = ond - 1; td >= 0; td--) {
        tensor_numel *= oshape[td];
        if (td == 0 || (oshape[td - 1] != 1 && ostr[td - 1] != tensor_numel * chunk_base)) {
            while (view_d >= 0 && (view_numel < tensor_numel || nshape[view_d] == 1)) {
                nstr[view_d] = view_numel * chunk_base;
                view_numel *= nshape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (td > 0) {
                chunk_base = ostr[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

static cg_tensor *make_view(const cg_tensor *x, const int64_t *shape, const int64_t *strides, int ndim,
                            int64_t offset) {
    cg_tensor *v = cg__view_of(x);
    if (!v) return NULL;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        v->shape[i] = shape[i];
        v->strides[i] = strides[i];
    }
    for (int i = ndim; i < CG_MAX_DIMS; i++) v->shape[i] = v->strides[i] = 0;
    v->offset = offset;
    return v;
}

cg_tensor *cg_k_view(const cg_tensor *x, const int64_t *shape, int ndim) {
    CG_CHECK_NULL1("cg_view", x);
    int64_t ns[CG_MAX_DIMS], st[CG_MAX_DIMS];
    if (!infer_shape("cg_view", x, shape, ndim, ns)) return NULL;
    if (!view_strides(x, ns, ndim, st)) {
        cg_set_error(CG_ERR_SHAPE,
                     "cg_view: a tensor of shape %s with these strides cannot be viewed as %s; use "
                     "cg_reshape (which copies) or cg_contiguous first",
                     cg_shape_str(x), cg_dims_str(ns, ndim));
        return NULL;
    }
    return make_view(x, ns, st, ndim, x->offset);
}

cg_tensor *cg_k_reshape(const cg_tensor *x, const int64_t *shape, int ndim) {
    CG_CHECK_NULL1("cg_reshape", x);
    int64_t ns[CG_MAX_DIMS], st[CG_MAX_DIMS];
    if (!infer_shape("cg_reshape", x, shape, ndim, ns)) return NULL;
    if (view_strides(x, ns, ndim, st)) return make_view(x, ns, st, ndim, x->offset);
    cg_tensor *c = cg_clone(x);
    if (!c) return NULL;
    cg__contig_strides(ns, ndim, st);
    return make_view(c, ns, st, ndim, 0);
}

cg_tensor *cg_k_transpose(const cg_tensor *x, int d0, int d1) {
    CG_CHECK_NULL1("cg_transpose", x);
    if (x->ndim == 0 && (d0 == 0 || d0 == -1) && (d1 == 0 || d1 == -1)) return cg__view_of(x);
    int a = cg__axis("cg_transpose", d0, x->ndim);
    int b = a < 0 ? -1 : cg__axis("cg_transpose", d1, x->ndim);
    if (b < 0) return NULL;
    cg_tensor *v = cg__view_of(x);
    if (!v) return NULL;
    v->shape[a] = x->shape[b];
    v->shape[b] = x->shape[a];
    v->strides[a] = x->strides[b];
    v->strides[b] = x->strides[a];
    return v;
}

cg_tensor *cg_k_permute(const cg_tensor *x, const int *dims, int ndims) {
    CG_CHECK_NULL1("cg_permute", x);
    if (ndims != x->ndim || (ndims > 0 && !dims)) {
        cg_set_error(CG_ERR_SHAPE, "cg_permute: %d dims given for a tensor of shape %s", ndims, cg_shape_str(x));
        return NULL;
    }
    bool seen[CG_MAX_DIMS] = {false};
    cg_tensor *v = cg__view_of(x);
    if (!v) return NULL;
    for (int i = 0; i < ndims; i++) {
        int d = cg__axis("cg_permute", dims[i], x->ndim);
        if (d < 0) return NULL;
        if (seen[d]) {
            cg_set_error(CG_ERR_SHAPE, "cg_permute: dim %d appears twice", dims[i]);
            return NULL;
        }
        seen[d] = true;
        v->shape[i] = x->shape[d];
        v->strides[i] = x->strides[d];
    }
    return v;
}

cg_tensor *cg_k_slice(const cg_tensor *x, int dim, int64_t start, int64_t stop, int64_t step) {
    CG_CHECK_NULL1("cg_slice", x);
    int d = cg__axis("cg_slice", dim, x->ndim);
    if (d < 0) return NULL;
    if (step <= 0) {
        cg_set_error(CG_ERR_VALUE, "cg_slice: step %lld must be > 0 (use cg_flip to reverse)", (long long)step);
        return NULL;
    }
    int64_t n = x->shape[d];
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    if (start < 0) start = 0;
    if (start > n) start = n;
    if (stop < start) stop = start;
    if (stop > n) stop = n;
    cg_tensor *v = cg__view_of(x);
    if (!v) return NULL;
    v->shape[d] = (stop - start + step - 1) / step;
    v->offset = x->offset + (v->shape[d] > 0 ? start * x->strides[d] : 0);
    v->strides[d] = x->strides[d] * step;
    return v;
}

cg_tensor *cg_k_select(const cg_tensor *x, int dim, int64_t index) {
    CG_CHECK_NULL1("cg_select", x);
    int d = cg__axis("cg_select", dim, x->ndim);
    if (d < 0) return NULL;
    int64_t i = index < 0 ? index + x->shape[d] : index;
    if (i < 0 || i >= x->shape[d]) {
        cg_set_error(CG_ERR_INDEX, "cg_select: index %lld is out of range for dim %d of shape %s",
                     (long long)index, dim, cg_shape_str(x));
        return NULL;
    }
    cg_tensor *v = cg__view_of(x);
    if (!v) return NULL;
    v->offset = x->offset + i * x->strides[d];
    for (int k = d; k < x->ndim - 1; k++) {
        v->shape[k] = x->shape[k + 1];
        v->strides[k] = x->strides[k + 1];
    }
    v->ndim = x->ndim - 1;
    v->shape[v->ndim] = v->strides[v->ndim] = 0;
    return v;
}

cg_tensor *cg_k_expand(const cg_tensor *x, const int64_t *shape, int ndim) {
    CG_CHECK_NULL1("cg_expand", x);
    if (ndim < x->ndim || ndim > CG_MAX_DIMS || (ndim > 0 && !shape)) {
        cg_set_error(CG_ERR_SHAPE, "cg_expand: cannot expand %s to %d dims", cg_shape_str(x), ndim);
        return NULL;
    }
    int64_t ns[CG_MAX_DIMS], st[CG_MAX_DIMS];
    int lead = ndim - x->ndim;
    for (int i = 0; i < ndim; i++) {
        if (i < lead) {
            if (shape[i] < 0) goto bad;
            ns[i] = shape[i];
            st[i] = 0;
            continue;
        }
        int64_t have = x->shape[i - lead];
        int64_t want = shape[i] == -1 ? have : shape[i];
        if (want == have) {
            ns[i] = have;
            st[i] = x->strides[i - lead];
        } else if (have == 1 && want >= 0) {
            ns[i] = want;
            st[i] = 0;
        } else {
            goto bad;
        }
    }
    return make_view(x, ns, st, ndim, x->offset);
bad:
    cg_set_error(CG_ERR_SHAPE, "cg_expand: cannot expand %s to %s", cg_shape_str(x), cg_dims_str(shape, ndim));
    return NULL;
}

cg_tensor *cg_k_squeeze(const cg_tensor *x, int dim) {
    CG_CHECK_NULL1("cg_squeeze", x);
    int d = cg__axis("cg_squeeze", dim, x->ndim);
    if (d < 0) return NULL;
    if (x->shape[d] != 1) {
        cg_set_error(CG_ERR_SHAPE, "cg_squeeze: dim %d of shape %s has size %lld, not 1", dim,
                     cg_shape_str(x), (long long)x->shape[d]);
        return NULL;
    }
    return cg_k_select(x, d, 0);
}

cg_tensor *cg_k_unsqueeze(const cg_tensor *x, int dim) {
    CG_CHECK_NULL1("cg_unsqueeze", x);
    int d = dim < 0 ? dim + x->ndim + 1 : dim;
    if (d < 0 || d > x->ndim || x->ndim >= CG_MAX_DIMS) {
        cg_set_error(CG_ERR_INDEX, "cg_unsqueeze: dim %d is out of range for shape %s", dim, cg_shape_str(x));
        return NULL;
    }
    cg_tensor *v = cg__view_of(x);
    if (!v) return NULL;
    for (int k = x->ndim; k > d; k--) {
        v->shape[k] = x->shape[k - 1];
        v->strides[k] = x->strides[k - 1];
    }
    v->shape[d] = 1;
    v->strides[d] = d < x->ndim ? x->shape[d] * x->strides[d] : 1;
    v->ndim = x->ndim + 1;
    return v;
}

cg_tensor *cg_k_flip(const cg_tensor *x, const int *dims, int ndims) {
    CG_CHECK_NULL1("cg_flip", x);
    if (ndims < 0 || (ndims > 0 && !dims)) {
        cg_set_error(CG_ERR_VALUE, "cg_flip: bad dims list");
        return NULL;
    }
    bool flip[CG_MAX_DIMS] = {false};
    for (int i = 0; i < ndims; i++) {
        int d = cg__axis("cg_flip", dims[i], x->ndim);
        if (d < 0) return NULL;
        if (flip[d]) {
            cg_set_error(CG_ERR_SHAPE, "cg_flip: dim %d appears twice", dims[i]);
            return NULL;
        }
        flip[d] = true;
    }
    cg_tensor *v = cg__view_of(x);
    if (!v) return NULL;
    for (int d = 0; d < x->ndim; d++) {
        if (!flip[d] || x->shape[d] == 0) continue;
        v->offset += (x->shape[d] - 1) * x->strides[d];
        v->strides[d] = -x->strides[d];
    }
    return v;
}
