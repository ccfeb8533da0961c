/* Each elementwise primitive of CG_UNARY_OPS / CG_BINARY_OPS (tensor.h),
 * written once: its forward and its derivative rule, the gradient of an
 * input from the output's gradient g. These rows make the elementwise
 * kernels (ops_elementwise.c: forwards and cg_k_unary_grad /
 * cg_k_binary_grad) and the fused programs' steps (ops_fused.c, both
 * directions); autograd's elementwise ops call those kernels, and gradcheck
 * checks each against central differences. Private to tensor/.
 *
 * Unary rows:  X(NAME, int64 too, forward of x, derivative from g, x, y)
 * Binary rows: X(NAME, int64 too, forward of a and b, derivative for a,
 *                for b, from g, a, b, y)
 * Expressions are in the type T of the code that expands them (float,
 * double, or int64_t where the row says so): CG_C(v) is v in T, and the functions below pick their float or
 * double version by argument type. A rule reads only what tensor.h's row
 * says it reads. Comparisons have no derivative (their rules are never
 * run). */
#ifndef CGRAD_ELEMENTWISE_RULES_H
#define CGRAD_ELEMENTWISE_RULES_H

#include "vmath.h"

#define CG_C(v) ((T)(v))
#define CG_EXP_(v) _Generic((v), float: cg_vexpf, double: cg_vexp)(v)
#define CG_LOG_(v) _Generic((v), float: cg_vlogf, double: cg_vlog)(v)
#define CG_TANH_(v) _Generic((v), float: cg_vtanhf, double: cg_vtanh)(v)
#define CG_SIGMOID_(v) _Generic((v), float: cg_vsigmoidf, double: cg_vsigmoid)(v)
#define CG_SQRT_(v) _Generic((v), float: sqrtf, double: sqrt)(v)
#define CG_POW_(a, b) _Generic((a), float: powf, double: pow)(a, b)
#define CG_SIGN_(v) CG_C(((v) > 0) - ((v) < 0))

static inline int64_t cg__absi64(int64_t v) { return v < 0 ? -v : v; }
#define CG_FABS_(v) _Generic((v), float: fabsf, double: fabs, int64_t: cg__absi64)(v)

/* X(NAME, int64 too, forward, derivative) */
#define CG_UNARY_RULES(X)                                                                          \
    X(NEG, 1, -x, -g)                                                                              \
    X(EXP, 0, CG_EXP_(x), g * y)                                                                   \
    X(LOG, 0, CG_LOG_(x), g / x)                                                                   \
    X(SQRT, 0, CG_SQRT_(x), g / y * CG_C(0.5))                                                     \
    X(ABS, 1, CG_FABS_(x), g * CG_SIGN_(x))                                                        \
    X(TANH, 0, CG_TANH_(x), g * (CG_C(1) - y * y))                                                 \
    X(SIGMOID, 0, CG_SIGMOID_(x), g * y * (CG_C(1) - y))                                           \
    X(RELU, 1, x < 0 ? CG_C(0) : x, y > 0 ? g : CG_C(0))                                           \
    X(SIGN, 1, CG_SIGN_(x), CG_C(0))                                                               \
    X(SQUARE, 1, x * x, g * x * CG_C(2))                                                           \
    X(RECIPROCAL, 0, CG_C(1) / x, -(g * y * y))                                                    \
    X(SOFTSIGN, 0, x / (CG_C(1) + CG_FABS_(x)), g / ((CG_C(1) + CG_FABS_(x)) * (CG_C(1) + CG_FABS_(x))))

/* X(NAME, int64 too, forward, derivative for a, for b) */
#define CG_BINARY_RULES(X)                                                                         \
    X(ADD, 1, a + b, g, g)                                                                         \
    X(SUB, 1, a - b, g, -g)                                                                        \
    X(MUL, 1, a * b, g * b, g * a)                                                                 \
    X(DIV, 0, a / b, g / b, -(g / b * y))                                                          \
    X(POW, 0, CG_POW_(a, b), g * (CG_POW_(a, b - CG_C(1)) * b), g * y * CG_LOG_(a))                \
    X(MAXIMUM, 1, (a > b || a != a) ? a : b, g * (CG_C(a > b) + CG_C(a == b) * CG_C(0.5)),         \
      g * (CG_C(b > a) + CG_C(a == b) * CG_C(0.5)))                                                \
    X(MINIMUM, 1, (a < b || a != a) ? a : b, g * (CG_C(a < b) + CG_C(a == b) * CG_C(0.5)),         \
      g * (CG_C(b < a) + CG_C(a == b) * CG_C(0.5)))                                                \
    X(EQ, 1, CG_C(a == b), CG_C(0), CG_C(0))                                                       \
    X(NE, 1, CG_C(a != b), CG_C(0), CG_C(0))                                                       \
    X(LT, 1, CG_C(a < b), CG_C(0), CG_C(0))                                                        \
    X(LE, 1, CG_C(a <= b), CG_C(0), CG_C(0))                                                       \
    X(GT, 1, CG_C(a > b), CG_C(0), CG_C(0))                                                        \
    X(GE, 1, CG_C(a >= b), CG_C(0), CG_C(0))

/* Every op of tensor.h has a row, once: as many rows as ops, and a
 * designated initializer per row (a second one for an op is a compiler
 * error, -Werror=override-init). */
#define CG_RULE_COUNT_(...) +1
_Static_assert(0 CG_UNARY_RULES(CG_RULE_COUNT_) == CG_UNOP_COUNT, "a unary op without a rule in elementwise_rules.h");
_Static_assert(0 CG_BINARY_RULES(CG_RULE_COUNT_) == CG_BINOP_COUNT, "a binary op without a rule in elementwise_rules.h");

/* What a rule reads (tensor.h's rows), and whether it has one. */
#define CG_OP_READS_(E, name, reads) [CG_##E] = (reads),
static const unsigned cg__unop_reads[CG_UNOP_COUNT] = {CG_UNARY_OPS(CG_OP_READS_)};
static const unsigned cg__binop_reads[CG_BINOP_COUNT] = {CG_BINARY_OPS(CG_OP_READS_)};
#undef CG_OP_READS_

#endif
