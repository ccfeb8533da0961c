#!/usr/bin/env python3
"""Polynomial coefficients of tensor/vmath.h (near-minimax fits with mpmath).

    python3 scripts/vmath_coefficients.py     # prints the C constants

exp:  e^r = 1 + r + r^2 P(r),                |r| <= ln2/2
log:  log((1+s)/(1-s)) = 2s + s R(s^2),      0 <= s^2 <= (3-2*sqrt(2))^2 (s = f/(2+f), f in [sqrt(1/2)-1, sqrt(2)-1])
      R(z) = z Q(z)
tanh (float only): tanh(a) = a + a^3 T(a^2),  0 <= a <= 0.625
sin, cos of (pi/2) f (double only): f S(f^2), C(f^2),  |f| <= 1/2
"""
import mpmath as mp

mp.mp.dps = 60


def fit(f, a, b, deg):
    coeffs, err = mp.chebyfit(f, [a, b], deg + 1, error=True)
    return [c for c in reversed(coeffs)], err  # lowest order first


def show(name, coeffs, err, ctype):
    print(f"/* {name}: max abs error of the fit {mp.nstr(err, 3)} */")
    for i, c in enumerate(coeffs):
        lit = mp.nstr(c, 21 if ctype == "double" else 12, min_fixed=-1, max_fixed=-1)
        print(f"#define {name}{i} {lit}{'f' if ctype == 'float' else ''}")


half_ln2 = mp.log(2) / 2
p_exp = lambda r: (mp.exp(r) - 1 - r) / r**2 if r != 0 else mp.mpf(1) / 2
smax = (mp.sqrt(2) - 1) / (2 + mp.sqrt(2) - 1)
zmax = smax**2
q_log = lambda z: ((mp.log((1 + mp.sqrt(z)) / (1 - mp.sqrt(z))) - 2 * mp.sqrt(z)) / mp.sqrt(z)) / z if z != 0 else mp.mpf(2) / 3

t_tanh = lambda z: (mp.tanh(mp.sqrt(z)) - mp.sqrt(z)) / (z * mp.sqrt(z)) if z != 0 else mp.mpf(-1) / 3

for ctype, dexp, dlog in (("float", 4, 2), ("double", 10, 6)):
    tag = "F" if ctype == "float" else "D"
    show(f"CG_EXP_P{tag}", *fit(p_exp, -half_ln2, half_ln2, dexp), ctype)
    show(f"CG_LOG_Q{tag}", *fit(q_log, 0, zmax, dlog), ctype)
    if ctype == "float":
        show("CG_TANH_TF", *fit(t_tanh, 0, mp.mpf("0.625") ** 2, 4), ctype)
s_sin = lambda z: mp.sin(mp.pi / 2 * mp.sqrt(z)) / mp.sqrt(z) if z != 0 else mp.pi / 2
c_cos = lambda z: mp.cos(mp.pi / 2 * mp.sqrt(z))
show("CG_SINPI_SD", *fit(s_sin, 0, mp.mpf(1) / 4, 8), "double")
show("CG_COSPI_CD", *fit(c_cos, 0, mp.mpf(1) / 4, 8), "double")
