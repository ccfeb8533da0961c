/* A user-defined differentiable op: swish(x) = x * sigmoid(x).
 *
 * An op is one row of the op table: a name, a forward that computes with the
 * cg_k_* kernels (nothing it does is recorded) and a backward that turns the
 * output gradient into input gradients, reusing what the forward saved. Once
 * registered it records on the tape like any built-in op, shows up in the DOT
 * export under its name, and is checked with cg_gradcheck, the same check the
 * built-in ops pass.
 *
 *     ./custom_op        prints a forward/backward through swish and
 *                        "gradcheck: ok" (exit status 1 if the check fails) */
#include <cgrad/cgrad.h>

#include <stdio.h>

/* ----------------------------------------------------------------- the op */

/* y = x * s with s = sigmoid(x); s is saved for the backward. */
static int swish_forward(cg_node *node, cg_tensor *const *in, int n_in, cg_tensor **out) {
    (void)n_in;
    cg_tensor *s = cg_k_unary(CG_SIGMOID, in[0]);
    out[0] = s ? cg_k_binary(CG_MUL, in[0], s) : NULL;
    cg_node_save(node, s);
    return out[0] ? 1 : -1;
}

/* dy/dx = s + x s (1 - s) = s + y (1 - s), from the saved s and the output y. */
static cg_status swish_backward(cg_node *node, cg_tensor *const *gout, const bool *needs_grad, cg_grad_in *gin) {
    (void)needs_grad; /* one input, and the backward only runs when it needs a gradient */
    cg_tensor *s = cg_node_saved(node, 0), *y = cg_node_output(node, 0);
    cg_tensor *d = cg_k_rscalar(CG_SUB, 1.0, s); /* 1 - s */
    d = d ? cg_k_binary_(CG_MUL, d, y) : NULL;   /* y (1 - s) */
    d = d ? cg_k_binary_(CG_ADD, d, s) : NULL;   /* s + y (1 - s) */
    gin[0].t = d ? cg_k_binary_(CG_MUL, d, gout[0]) : NULL; /* x's gradient, handed back */
    return gin[0].t ? CG_OK : cg_last_status();
}

static const cg_op *swish_op;

static cg_tensor *swish(cg_tensor *x) { return cg_op_apply(swish_op, &x, 1, NULL); }

static bool register_swish(void) {
    /* reads: the backward reads the output, so modifying it in place before
     * backward is an error (saved tensors are always checked) */
    cg_op def = {.name = "swish", .n_in = 1, .n_out = 1, .forward = swish_forward, .backward = swish_backward,
                 .reads = CG_READS_OUTPUTS};
    return (swish_op = cg_op_register(&def)) != NULL;
}

/* ---------------------------------------------------------------- using it */

static cg_tensor *layer(cg_tensor *const *in, int n, void *user) {
    (void)n, (void)user;
    return swish(cg_matmul(in[0], in[1])); /* x: [B, K] @ w: [K, N] -> [B, N] */
}

int main(void) {
    if (!register_swish()) {
        fprintf(stderr, "%s\n", cg_last_error());
        return 1;
    }
    cg_rng rng = cg_rng_seeded(0);

    /* a forward and backward in float32, like a training step */
    cg_tensor *x = cg_randn(&rng, CG_FLOAT32, CG_SHAPE(4, 3));
    cg_tensor *w = cg_requires_grad_(cg_randn(&rng, CG_FLOAT32, CG_SHAPE(3, 2)), true);
    cg_tensor *loss = cg_mean(layer((cg_tensor *[]){x, w}, 2, NULL), NULL, 0, false);
    if (!loss || cg_backward(loss) != CG_OK) {
        fprintf(stderr, "%s\n", cg_last_error());
        return 1;
    }
    printf("loss = %.6f\nd loss / d w =\n", cg_item(loss));
    cg_print(cg_grad(w));

    /* the analytic gradient against float64 central differences */
    cg_tensor *in[2] = {cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(5, 3)), true),
                        cg_requires_grad_(cg_randn(&rng, CG_FLOAT64, CG_SHAPE(3, 4)), true)};
    cg_gradcheck_opts opts = {.atol = 1e-7, .rtol = 1e-6};
    int status = 0;
    if (cg_gradcheck(layer, NULL, in, 2, &opts) == CG_OK) {
        printf("gradcheck: ok\n");
    } else {
        printf("gradcheck: FAILED: %s\n", cg_last_error());
        status = 1;
    }
    cg_cleanup();
    return status;
}
