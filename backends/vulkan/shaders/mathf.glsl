/*
 * mathf.glsl - fp32 exp and log1p as the CPU's libm gives them: computed in
 * double and rounded once to fp32 (glibc's expf/log1pf are within 0.51 ulp,
 * i.e. almost always the correctly rounded value; a device's fp32 exp may be
 * off by several ulp, which moves softmax weights, sigmoid gates and the
 * compressor's pooling away from the CPU's bits). Needs shaderFloat64; the
 * "-nof64" builds of the shaders (GDS_NO_F64, for devices without it) fall
 * back to the device's exp/log.
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

/* log1p(y) for y >= 0 (y itself an fp32 value, as log1pf(expf(x)) takes it) */
float log1p_f(float y) {
#ifdef GDS_NO_F64
    precise float u = 1.0 + y;
    if (u == 1.0) return y;
    precise float d = u - 1.0;
    return log(u) * (y / d);
#else
    if (y < uintBitsToFloat(0x30800000u)) return y; /* y < 2^-30: log1p(y) rounds to y */
    if (isinf(y)) return y;
    /* log(1 + y) in double: 1 + y is exact for y >= 2^-30; u = m * 2^e with m in [sqrt(1/2), sqrt(2)) */
    const double u = 1.0LF + double(y);
    int e;
    double m = frexp(u, e); /* [0.5, 1) */
    if (m < 0.70710678118654752440LF) { m = m * 2.0LF; e = e - 1; }
    precise double s = (m - 1.0LF) / (m + 1.0LF);
    precise double z = s * s;
    precise double t = 1.0LF / 25.0LF;
    t = t * z + 1.0LF / 23.0LF;
    t = t * z + 1.0LF / 21.0LF;
    t = t * z + 1.0LF / 19.0LF;
    t = t * z + 1.0LF / 17.0LF;
    t = t * z + 1.0LF / 15.0LF;
    t = t * z + 1.0LF / 13.0LF;
    t = t * z + 1.0LF / 11.0LF;
    t = t * z + 1.0LF / 9.0LF;
    t = t * z + 1.0LF / 7.0LF;
    t = t * z + 1.0LF / 5.0LF;
    t = t * z + 1.0LF / 3.0LF;
    t = t * z + 1.0LF;
    precise double lm = 2.0LF * s * t;
    precise double l = double(e) * 6.93147180559945309417e-01LF + lm;
    return float(l);
#endif
}
