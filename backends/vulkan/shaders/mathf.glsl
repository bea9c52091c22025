/*
 * mathf.glsl - fp32 exp and log1p as the CPU's libm gives them. exp: computed
 * in double and rounded once to fp32 (glibc's expf is within 0.502 ulp, i.e.
 * almost always the correctly rounded value; a device's fp32 exp may be off by
 * several ulp, which moves softmax weights, sigmoid gates and the
 * compressor's pooling away from the CPU's bits); needs shaderFloat64, the
 * "-nof64" builds of the shaders (GDS_NO_F64, for devices without it) fall
 * back to the device's exp. log1p: glibc's algorithm in fp32 (both builds).
 */

#ifndef GDS_NO_F64
/* exp(x) for a double x with |x| < 710 (the callers pass fp32 values) */
double exp_d(double x) {
    const double k = roundEven(x * 1.44269504088896338700LF);
    precise double r = (x - k * 6.93147180369123816490e-01LF) - k * 1.90821492927058770002e-10LF; /* fdlibm ln2 hi/lo */
    precise double p = 1.0LF / 6227020800.0LF;                       /* 1/13! */
    p = p * r + 1.0LF / 479001600.0LF;
    p = p * r + 1.0LF / 39916800.0LF;
    p = p * r + 1.0LF / 3628800.0LF;
    p = p * r + 1.0LF / 362880.0LF;
    p = p * r + 1.0LF / 40320.0LF;
    p = p * r + 1.0LF / 5040.0LF;
    p = p * r + 1.0LF / 720.0LF;
    p = p * r + 1.0LF / 120.0LF;
    p = p * r + 1.0LF / 24.0LF;
    p = p * r + 1.0LF / 6.0LF;
    p = p * r + 0.5LF;
    p = p * r + 1.0LF;
    p = p * r + 1.0LF;
    return ldexp(p, int(k));
}
#endif

float exp_f(float x) {
#ifdef GDS_NO_F64
    return exp(x);
#else
    if (isnan(x)) return x;
    if (x > 89.0) return uintBitsToFloat(0x7f800000u);
    if (x < -110.0) return 0.0;
    return float(exp_d(double(x)));
#endif
}

/* log1p(y) for y >= 0 (y itself an fp32 value, as log1pf(expf(x)) takes it):
 * fdlibm's s_log1pf.c, glibc's log1pf, step for step in fp32 (`precise`, the
 * two divisions correctly rounded): equal to glibc's result for every positive
 * float checked (305 million, every 7th bit pattern), in both builds */
float log1p_f(float x) {
    const float ln2_hi = uintBitsToFloat(0x3f317180u), ln2_lo = uintBitsToFloat(0x3717f7d1u);
    const float Lp1 = uintBitsToFloat(0x3F2AAAABu), Lp2 = uintBitsToFloat(0x3ECCCCCDu), Lp3 = uintBitsToFloat(0x3E924925u),
                Lp4 = uintBitsToFloat(0x3E638E29u), Lp5 = uintBitsToFloat(0x3E3A3325u), Lp6 = uintBitsToFloat(0x3E1CD04Fu),
                Lp7 = uintBitsToFloat(0x3E178897u);
    precise float hfsq, f = 0.0, c = 0.0, s, z, R, u;
    int k = 1, hu = 0;
    const int hx = floatBitsToInt(x), ax = hx & 0x7fffffff;
    if (hx < 0x3ed413d7) {
        if (ax < 0x31000000) {
            if (ax < 0x24800000) return x;
            precise float t = x * x * 0.5;
            return x - t;
        }
        if (hx > 0 || hx <= int(0xbe95f61fu)) { k = 0; f = x; hu = 1; }
    } else if (hx >= 0x7f800000) return x + x;
    if (k != 0) {
        if (hx < 0x5a000000) {
            u = 1.0 + x;
            hu = floatBitsToInt(u);
            k = (hu >> 23) - 127;
            c = k > 0 ? 1.0 - (u - x) : x - (u - 1.0);
            c = div_rn(c, u);
        } else {
            u = x;
            hu = floatBitsToInt(u);
            k = (hu >> 23) - 127;
            c = 0.0;
        }
        hu &= 0x007fffff;
        if (hu < 0x3504f7) {
            u = intBitsToFloat(hu | 0x3f800000);
        } else {
            k += 1;
            u = intBitsToFloat(hu | 0x3f000000);
            hu = (0x00800000 - hu) >> 2;
        }
        f = u - 1.0;
    }
    const float fk = float(k);
    hfsq = 0.5 * f * f;
    if (hu == 0) {
        if (f == 0.0) { if (k == 0) return 0.0; c += fk * ln2_lo; return fk * ln2_hi + c; }
        R = hfsq * (1.0 - uintBitsToFloat(0x3f2aaaabu) * f);
        if (k == 0) return f - R;
        return fk * ln2_hi - ((R - (fk * ln2_lo + c)) - f);
    }
    s = div_rn(f, 2.0 + f);
    z = s * s;
    R = z * (Lp1 + z * (Lp2 + z * (Lp3 + z * (Lp4 + z * (Lp5 + z * (Lp6 + z * Lp7))))));
    if (k == 0) return f - (hfsq - s * (hfsq + R));
    return fk * ln2_hi - ((hfsq - (s * (hfsq + R) + (fk * ln2_lo + c))) - f);
}
