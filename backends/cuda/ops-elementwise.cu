/*
 * ops-elementwise.cu - ADD, MUL, DIV (b broadcast by modulo), SCALE, SQRT,
 * SIGMOID, SOFTPLUS, SILU, SWIGLU on CUDA: one thread per output element,
 * the formulas of backends/cpu/ops-elementwise.c in fp32 (CUDA's expf and
 * log1pf are within 2 ulp of glibc's, not bit-equal; no fast-math).
 * dst_bf16 (a fused QUANT_SIM BF16): bf16(y) is stored there too.
 */
#include "common.cuh"

enum { EW_ADD, EW_MUL, EW_DIV, EW_SCALE, EW_SQRT, EW_SIGMOID, EW_SOFTPLUS, EW_SILU, EW_SWIGLU };

static __global__ void k_elementwise(int op, gds_cu_t a, gds_cu_t b, gds_cu_t d, float p0, float p1, int64_t n, char *db) {
    const int64_t ne0 = d.ne[0], ne1 = d.ne[1], ne2 = d.ne[2];
    CU_GRID_STRIDE(e, n) {
        const int64_t i0 = e % ne0, r = e / ne0, i1 = r % ne1, i2 = (r / ne1) % ne2, i3 = r / (ne1 * ne2);
        const float xa = *(const float *)cu_at(a, i0, i1, i2, i3);
        float y;
        switch (op) {
        case EW_ADD: case EW_MUL: case EW_DIV: {
            const float xb = *(const float *)cu_at(b, i0 % b.ne[0], i1 % b.ne[1], i2 % b.ne[2], i3 % b.ne[3]);
            y = op == EW_ADD ? xa + xb : op == EW_MUL ? xa * xb : xa / xb;
            break;
        }
        case EW_SCALE: y = p1 == 0.0f ? xa * p0 : __fadd_rn(__fmul_rn(xa, p0), p1); break;
        case EW_SQRT: y = sqrtf(xa); break;
        case EW_SIGMOID: y = 1.0f / (1.0f + expf(-xa)); break;
        case EW_SOFTPLUS: y = xa > 20.0f ? xa : log1pf(expf(xa)); break;
        case EW_SILU: y = xa / (1.0f + expf(-xa)); break;
        case EW_SWIGLU: {
            const float u = *(const float *)cu_at(b, i0, i1, i2, i3), L = p0;
            float g = xa, v = u;
            if (L > 0.0f) {
                g = g > L ? L : g;
                v = v > L ? L : (v < -L ? -L : v);
            }
            y = __fmul_rn(g / (1.0f + expf(-g)), v);
            break;
        }
        default: y = 0.0f;
        }
        char *o = cu_at(d, i0, i1, i2, i3);
        *(float *)o = y;
        if (db) *(float *)(db + (o - d.data)) = gds_round_bf16(y);
    }
}

static int run_ew(int op, const struct gds_cu_node *n, const struct gds_cu_exec *x, float p0, float p1) {
    const gds_cu_t &d = n->dst;
    const int64_t ne = d.ne[0] * d.ne[1] * d.ne[2] * d.ne[3];
    if (ne == 0) return 0;
    k_elementwise<<<cu_blocks(ne, 256), 256, 0, cu_stream(x)>>>(op, n->src[0], n->n_src > 1 ? n->src[1] : n->src[0], d, p0, p1, ne,
                                                            n->dst_bf16);
    GDS_CU_RETURN_LAST();
}

extern "C" int gds_cu_run_add(const struct gds_cu_node *n, const struct gds_cu_exec *x) { return run_ew(EW_ADD, n, x, 0, 0); }
extern "C" int gds_cu_run_mul(const struct gds_cu_node *n, const struct gds_cu_exec *x) { return run_ew(EW_MUL, n, x, 0, 0); }
extern "C" int gds_cu_run_div(const struct gds_cu_node *n, const struct gds_cu_exec *x) { return run_ew(EW_DIV, n, x, 0, 0); }
extern "C" int gds_cu_run_scale(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    return run_ew(EW_SCALE, n, x, gds_cu_param_f32(n, GDS_P_SCALE_S), gds_cu_param_f32(n, GDS_P_SCALE_B));
}
extern "C" int gds_cu_run_sqrt(const struct gds_cu_node *n, const struct gds_cu_exec *x) { return run_ew(EW_SQRT, n, x, 0, 0); }
extern "C" int gds_cu_run_sigmoid(const struct gds_cu_node *n, const struct gds_cu_exec *x) { return run_ew(EW_SIGMOID, n, x, 0, 0); }
extern "C" int gds_cu_run_softplus(const struct gds_cu_node *n, const struct gds_cu_exec *x) { return run_ew(EW_SOFTPLUS, n, x, 0, 0); }
extern "C" int gds_cu_run_silu(const struct gds_cu_node *n, const struct gds_cu_exec *x) { return run_ew(EW_SILU, n, x, 0, 0); }
extern "C" int gds_cu_run_swiglu(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    return run_ew(EW_SWIGLU, n, x, gds_cu_param_f32(n, GDS_P_SWIGLU_LIMIT), 0);
}
