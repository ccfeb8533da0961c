/* A short tour of cgrad tensors and autograd: views, broadcasting, GEMM,
 * and a gradient. */
#include <cgrad/cgrad.h>
#include <stdio.h>

int main(void) {
    cg_scope *s = cg_scope_begin();
    cg_tensor *a = cg_k_reshape(cg_arange(CG_FLOAT32, 0, 6, 1), CG_SHAPE(2, 3));
    printf("a =\n");
    cg_print(a);
    printf("a transposed (a view, no copy) =\n");
    cg_print(cg_transpose(a, 0, 1));
    printf("a + [10, 20, 30] (broadcast) =\n");
    cg_print(cg_add(a, cg_from_data(CG_FLOAT32, CG_SHAPE(3), (float[]){10, 20, 30})));
    printf("a @ a^T =\n");
    cg_print(cg_matmul(a, cg_transpose(a, 0, 1)));

    cg_tensor *w = cg_requires_grad_(cg_full(CG_FLOAT32, CG_SHAPE(3), 0.5), true);
    cg_tensor *loss = cg_mean(cg_tanh(cg_matmul(a, w)), NULL, 0, false);
    if (!loss || cg_backward(loss) != CG_OK) {
        fprintf(stderr, "error: %s\n", cg_last_error());
        return 1;
    }
    printf("loss = mean(tanh(a @ w)) = %.6f\nd loss / d w =\n", cg_item(loss));
    cg_print(cg_grad(w));
    cg_scope_end(s);
    cg_cleanup();
    return 0;
}
