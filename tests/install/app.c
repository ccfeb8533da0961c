/* A program built against an installed cgrad: tensors, BLIS GEMM, autograd. */
#include <cgrad/cgrad.h>

#include <stdio.h>

int main(void) {
    cg_tensor *w = cg_requires_grad_(cg_from_data(CG_FLOAT32, CG_SHAPE(2, 2), (float[]){1, 2, 3, 4}), true);
    cg_scope *s = cg_scope_begin();
    cg_tensor *x = cg_from_data(CG_FLOAT32, CG_SHAPE(1, 2), (float[]){1, -1});
    cg_tensor *y = cg_matmul(x, w);
    cg_tensor *loss = cg_sum(cg_mul(y, y), NULL, 0, false); /* sum((x @ w)^2) */
    if (!loss || cg_backward(loss) != CG_OK) {
        fprintf(stderr, "app: %s\n", cg_last_error());
        return 1;
    }
    printf("loss %g\n", cg_item(loss));
    cg_scope_end(s);
    char buf[256];
    cg_snprint(buf, sizeof buf, cg_grad(w));
    printf("%s\n", buf);
    cg_tensor *bad = cg_zeros(CG_FLOAT32, CG_SHAPE(2, 3));
    if (!cg_k_matmul(bad, w)) printf("error: %s\n", cg_last_error());
    cg_cleanup();
    return 0;
}
