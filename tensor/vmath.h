/* Elementary functions written with +, -, *, / and bit operations only, so
 * that a loop over them vectorizes (any ISA, `omp simd`) and every element
 * gets the same bits wherever it sits: in a vector lane or a scalar tail, at
 * any alignment, in a build for any x86-64 level, on any CPU. (libm's
 * scalar and libmvec's vector versions differ in the last bit: with them a
 * result would depend on an element's place in a loop and on the build.)
 *
 * Accuracy (against long double libm, tests/test_vmath.c): float32 exp
 * within 1.05 ulp, log 1, tanh 1.5, sigmoid 2.6; float64 exp 1, log 1.2,
 * tanh 2.5, sigmoid 2.6. Requires -ffp-contract=off (set for the
 * whole project): a fused multiply-add where the source has two roundings
 * would change the bits between builds.
 *
 * Polynomial coefficients: scripts/vmath_coefficients.py. */
#ifndef CGRAD_VMATH_H
#define CGRAD_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* scripts/vmath_coefficients.py */
#define CG_EXP_PF0 5.0e-1f
#define CG_EXP_PF1 1.66665770256e-1f
#define CG_EXP_PF2 4.16665546621e-2f
#define CG_EXP_PF3 8.36317307451e-3f
#define CG_EXP_PF4 1.39261761199e-3f
#define CG_LOG_QF0 6.66666850396e-1f
#define CG_LOG_QF1 3.9988780566e-1f
#define CG_LOG_QF2 2.9579949392e-1f
#define CG_TANH_TF0 -3.33333289441e-1f
#define CG_TANH_TF1 1.3332769737e-1f
#define CG_TANH_TF2 -5.38509095785e-2f
#define CG_TANH_TF3 2.09971789991e-2f
#define CG_TANH_TF4 -6.09671416591e-3f
#define CG_EXP_PD0 5.0e-1
#define CG_EXP_PD1 1.66666666666666709863e-1
#define CG_EXP_PD2 4.16666666666666697515e-2
#define CG_EXP_PD3 8.33333333332614088398e-3
#define CG_EXP_PD4 1.38888888888837524166e-3
#define CG_EXP_PD5 1.98412698748004919808e-4
#define CG_EXP_PD6 2.4801587325533363819e-5
#define CG_EXP_PD7 2.75572554257464342818e-6
#define CG_EXP_PD8 2.75572736613486362187e-7
#define CG_EXP_PD9 2.5105206373957011116e-8
#define CG_EXP_PD10 2.09146793765839350998e-9
#define CG_LOG_QD0 6.66666666666666968616e-1
#define CG_LOG_QD1 3.99999999998995044898e-1
#define CG_LOG_QD2 2.85714286259754849215e-1
#define CG_LOG_QD3 2.22222111347950798551e-1
#define CG_LOG_QD4 1.81828891252617220803e-1
#define CG_LOG_QD5 1.53317216005560412686e-1
#define CG_LOG_QD6 1.46164496850434058604e-1
#define CG_SINPI_SD0 1.57079632679489661923
#define CG_SINPI_SD1 -6.45964097506246253655e-1
#define CG_SINPI_SD2 7.9692626246167045033e-2
#define CG_SINPI_SD3 -4.68175413531868450801e-3
#define CG_SINPI_SD4 1.60441184787285904863e-4
#define CG_SINPI_SD5 -3.59884323435774267497e-6
#define CG_SINPI_SD6 5.69217234184313146069e-8
#define CG_SINPI_SD7 -6.68780546751221148006e-10
#define CG_SINPI_SD8 6.01788312404091124664e-12
#define CG_COSPI_CD0 1.0
#define CG_COSPI_CD1 -1.23370055013616982734
#define CG_COSPI_CD2 2.53669507901048012579e-1
#define CG_COSPI_CD3 -2.08634807633529174464e-2
#define CG_COSPI_CD4 9.19260274838533091875e-4
#define CG_COSPI_CD5 -2.52020423627333047829e-5
#define CG_COSPI_CD6 4.71087407753643866634e-7
#define CG_COSPI_CD7 -6.38632546338635622767e-9
#define CG_COSPI_CD8 6.50665423542469793244e-11

static inline uint32_t cg__fbits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline float cg__bitsf(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}
static inline uint64_t cg__dbits(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline double cg__bitsd(uint64_t u) {
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ------------------------------------------------------------------ float */

/* Round to the nearest integer (ties to even) for |x| < 2^22. */
#define CG__RNEF(x) (((x) + 12582912.0f) - 12582912.0f)
/* 2^n for an integer-valued n in [-126, 127]. */
static inline float cg__pow2f(float n) { return cg__bitsf(cg__fbits(n + (12582912.0f + 127.0f)) << 23); }

/* e^r - 1 for |r| <= ln2/2. */
static inline float cg__expm1_smallf(float r) {
    float p = CG_EXP_PF4;
    p = p * r + CG_EXP_PF3;
    p = p * r + CG_EXP_PF2;
    p = p * r + CG_EXP_PF1;
    p = p * r + CG_EXP_PF0;
    return r + r * r * p;
}

/* x = n ln2 + r: n, and r with |r| <= ln2/2 (x clamped by the caller). */
static inline float cg__reducef(float x, float *n) {
    *n = CG__RNEF(x * 1.44269504088896341f);
    return (x - *n * 0.693359375f) - *n * -2.12194440e-4f;
}

static inline float cg_vexpf(float x) {
    float xc = x > 88.7228394f ? 88.7228394f : x; /* NaN passes through */
    xc = xc < -103.972084f ? -103.972084f : xc;
    float n, r = cg__reducef(xc, &n);
    float y = 1.0f + cg__expm1_smallf(r);
    float n1 = CG__RNEF(n * 0.5f); /* 2^n in two normal factors: n is in [-150, 128] */
    y = y * cg__pow2f(n1) * cg__pow2f(n - n1);
    return x > 88.7228394f ? INFINITY : y;
}

/* log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1], as 2 atanh(f / (2 + f)). */
static inline float cg__log1p_redf(float f) {
    float s = f / (2.0f + f), z = s * s, hfsq = 0.5f * f * f;
    float q = CG_LOG_QF2;
    q = q * z + CG_LOG_QF1;
    q = q * z + CG_LOG_QF0;
    return f - (hfsq - s * (hfsq + z * q));
}

static inline float cg_vlogf(float x) {
    float scaled = x * 8388608.0f; /* (every value is computed before a select: a loop then vectorizes) */
    float xs = x < 1.17549435e-38f ? scaled : x; /* subnormal: scale by 2^23 */
    float kadj = x < 1.17549435e-38f ? -23.0f : 0.0f;
    uint32_t u = cg__fbits(xs);
    uint32_t kb = (u - 0x3f3504f3u + 0x3f800000u) >> 23; /* exponent + 127, mantissa in [sqrt(1/2), sqrt(2)) */
    float m = cg__bitsf(u - ((kb - 127u) << 23));
    float k = (cg__bitsf(0x4b000000u | kb) - 8388735.0f) + kadj; /* kb - 127 as a float */
    float y = k * 0.693359375f + (cg__log1p_redf(m - 1.0f) + k * -2.12194440e-4f);
    y = x == 0 ? -INFINITY : y;
    y = x == INFINITY ? INFINITY : y;
    return x < 0 || x != x ? NAN : y;
}

/* tanh: a polynomial below 0.625, (e^(2a) - 1) / (e^(2a) + 1) above. */
static inline float cg_vtanhf(float x) {
    float a = fabsf(x);
    float z = a * a, t = CG_TANH_TF4;
    t = t * z + CG_TANH_TF3;
    t = t * z + CG_TANH_TF2;
    t = t * z + CG_TANH_TF1;
    t = t * z + CG_TANH_TF0;
    float small = a + a * z * t;
    float ac = a > 10.0f ? 10.0f : a; /* tanh(10) rounds to 1 */
    float n, r = cg__reducef(2.0f * ac, &n);
    float p = cg__pow2f(n);                          /* n in [0, 29] */
    float em = p * cg__expm1_smallf(r) + (p - 1.0f); /* e^(2a) - 1 */
    float big = em / (em + 2.0f);
    return copysignf(a < 0.625f ? small : big, x);
}

/* 1 / (1 + e^-x), as e^x / (1 + e^x) for x < 0 (no overflow of e^-x). */
static inline float cg_vsigmoidf(float x) {
    float e = cg_vexpf(-fabsf(x)), s = 1.0f / (1.0f + e), es = e * s;
    return x < 0 ? es : s;
}

/* log(1 + y) for y > -1: directly where 1 + y is in [sqrt(1/2), sqrt(2)). */
static inline float cg_vlog1pf(float y) {
    float u = 1.0f + y;
    float c = u == 1.0f ? 1.0f : u - 1.0f; /* log1p(y) = log(u) * y / (u - 1) */
    float far = cg_vlogf(u) * (y / c), near = cg__log1p_redf(y);
    return y > -0.2928932f && y < 0.41421356f ? near : far;
}

/* ----------------------------------------------------------------- double */

#define CG__RNE(x) (((x) + 6755399441055744.0) - 6755399441055744.0)
/* 2^n for an integer-valued n in [-1022, 1023]. */
static inline double cg__pow2(double n) { return cg__bitsd(cg__dbits(n + (6755399441055744.0 + 1023.0)) << 52); }

static inline double cg__expm1_small(double r) {
    double p = CG_EXP_PD10;
    p = p * r + CG_EXP_PD9;
    p = p * r + CG_EXP_PD8;
    p = p * r + CG_EXP_PD7;
    p = p * r + CG_EXP_PD6;
    p = p * r + CG_EXP_PD5;
    p = p * r + CG_EXP_PD4;
    p = p * r + CG_EXP_PD3;
    p = p * r + CG_EXP_PD2;
    p = p * r + CG_EXP_PD1;
    p = p * r + CG_EXP_PD0;
    return r + r * r * p;
}

static inline double cg__reduce(double x, double *n) {
    *n = CG__RNE(x * 1.44269504088896338700e+00);
    return (x - *n * 6.93147180369123816490e-01) - *n * 1.90821492927058770002e-10;
}

static inline double cg_vexp(double x) {
    double xc = x > 709.782712893384 ? 709.782712893384 : x;
    xc = xc < -745.2 ? -745.2 : xc;
    double n, r = cg__reduce(xc, &n);
    double y = 1.0 + cg__expm1_small(r);
    double n1 = CG__RNE(n * 0.5); /* n is in [-1076, 1024] */
    y = y * cg__pow2(n1) * cg__pow2(n - n1);
    return x > 709.782712893384 ? INFINITY : y;
}

static inline double cg__log1p_red(double f) {
    double s = f / (2.0 + f), z = s * s, hfsq = 0.5 * f * f;
    double q = CG_LOG_QD6;
    q = q * z + CG_LOG_QD5;
    q = q * z + CG_LOG_QD4;
    q = q * z + CG_LOG_QD3;
    q = q * z + CG_LOG_QD2;
    q = q * z + CG_LOG_QD1;
    q = q * z + CG_LOG_QD0;
    return f - (hfsq - s * (hfsq + z * q));
}

static inline double cg_vlog(double x) {
    double scaled = x * 4503599627370496.0;
    double xs = x < 2.2250738585072014e-308 ? scaled : x; /* subnormal: scale by 2^52 */
    double kadj = x < 2.2250738585072014e-308 ? -52.0 : 0.0;
    uint64_t u = cg__dbits(xs);
    uint64_t kb = (u - 0x3fe6a09e667f3bcdull + 0x3ff0000000000000ull) >> 52;
    double m = cg__bitsd(u - ((kb - 1023u) << 52));
    double k = (cg__bitsd(0x4330000000000000ull | kb) - 4503599627371519.0) + kadj;
    double y = k * 6.93147180369123816490e-01 + (cg__log1p_red(m - 1.0) + k * 1.90821492927058770002e-10);
    y = x == 0 ? -INFINITY : y;
    y = x == INFINITY ? INFINITY : y;
    return x < 0 || x != x ? NAN : y;
}

static inline double cg_vtanh(double x) {
    double a = fabs(x);
    a = a > 20.0 ? 20.0 : a; /* tanh(20) rounds to 1 */
    double n, r = cg__reduce(2.0 * a, &n);
    double p = cg__pow2(n);
    double em = p * cg__expm1_small(r) + (p - 1.0);
    double big = em / (em + 2.0);
    return copysign(big, x);
}

static inline double cg_vsigmoid(double x) {
    double e = cg_vexp(-fabs(x)), s = 1.0 / (1.0 + e), es = e * s;
    return x < 0 ? es : s;
}

static inline double cg_vlog1p(double y) {
    double u = 1.0 + y;
    double c = u == 1.0 ? 1.0 : u - 1.0;
    double far = cg_vlog(u) * (y / c), near = cg__log1p_red(y);
    return y > -0.29289321881345248 && y < 0.41421356237309504 ? near : far;
}

/* sin(2 pi u) and cos(2 pi u) for u in [0, 1) (the angle of a Box-Muller
 * draw): 4u = q + f exactly, with q an integer and |f| <= 1/2, so the
 * reduction loses nothing; polynomials in f give sin and cos of (pi/2) f. */
static inline void cg_vsincos2pi(double u, double *sin_out, double *cos_out) {
    double w = 4.0 * u, q = CG__RNE(w), f = w - q, z = f * f;
    double sp = CG_SINPI_SD8, cp = CG_COSPI_CD8;
    sp = sp * z + CG_SINPI_SD7, cp = cp * z + CG_COSPI_CD7;
    sp = sp * z + CG_SINPI_SD6, cp = cp * z + CG_COSPI_CD6;
    sp = sp * z + CG_SINPI_SD5, cp = cp * z + CG_COSPI_CD5;
    sp = sp * z + CG_SINPI_SD4, cp = cp * z + CG_COSPI_CD4;
    sp = sp * z + CG_SINPI_SD3, cp = cp * z + CG_COSPI_CD3;
    sp = sp * z + CG_SINPI_SD2, cp = cp * z + CG_COSPI_CD2;
    sp = sp * z + CG_SINPI_SD1, cp = cp * z + CG_COSPI_CD1;
    sp = sp * z + CG_SINPI_SD0, cp = cp * z + CG_COSPI_CD0;
    double s = f * sp, c = cp;
    switch ((int)q & 3) { /* the angle is q quarter turns plus (pi/2) f */
    case 0: *sin_out = s, *cos_out = c; break;
    case 1: *sin_out = c, *cos_out = -s; break;
    case 2: *sin_out = -s, *cos_out = -c; break;
    default: *sin_out = -c, *cos_out = s; break;
    }
}

#endif
