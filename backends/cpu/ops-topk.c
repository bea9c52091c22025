/*
 * ops-topk.c - CPU kernel TOP_K: per row, the indices of the k largest values,
 * value descending, ties to the lower index; slots without a valid value
 * (the row has fewer than k values > -inf; NaN counts as invalid) get -1.
 *
 * Method: every valid element becomes a unique 64-bit key
 *     key = order_preserving_bits(v) << 32 | (0xffffffff - index)
 * so "better" (larger value, then lower index) is plain unsigned ">". One scan
 * appends candidates that beat the current threshold (the k-th best value
 * seen so far) to a buffer of 4k keys; when it fills, a quickselect keeps the
 * best k and raises the threshold. Since indices grow along the scan, a new
 * value can only beat the k-th best if it is strictly greater. The best k are
 * finally sorted descending. O(n) expected, branch-light; scratch is one buffer
 * per thread (gds_cpu_work_top_k). For k <= 32 (the router) a sorted array
 * with insertion replaces buffer + select (fewer mispredicted branches). Keys are unique, so the result is unique and
 * any nth (rows split with gds_cpu_split) gives the same bits. -0 counts as +0.
 *
 * Few long rows (decode: the indexer's one row of S scores, k = 512): each row
 * is cut into P column parts, one thread each (P = nth / rows, parts >= 1024
 * columns). Phase 1: every part keeps the best k of its slice (same scan).
 * The global k-th best is >= every full part's k-th best, so T0 = the largest
 * of those is a lower bound; phase 2: every part drops its keys below T0 and
 * sorts the rest descending. Phase 3: a key's global rank is the number of
 * kept keys of all parts that beat it (merge walks over the sorted lists);
 * ranks < k are written straight to the output. Same unique result.
 */
#include "cpu.h"

#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define GDS_TOPK_SMALL 32 /* k up to this: sorted insertion instead of buffer + select */

static size_t gds_topk_cap(int64_t k) { return (size_t)(4 * k + 64); }
static size_t gds_topk_stride(int64_t k) { return GDS_PAD(gds_topk_cap(k) * sizeof(uint64_t), 64); }

/* per thread in split mode: kept key count, k-th best key (0: part has < k keys) */
struct gds_topk_part { int64_t cnt; uint64_t kth; };

size_t gds_cpu_work_top_k(const struct gds_tensor *dst, int nth) {
    return (size_t)nth * gds_topk_stride(dst->ne[0]) + GDS_PAD((size_t)nth * sizeof(struct gds_topk_part), 64) + 64;
}

static inline uint32_t gds_topk_ord(float v) {
    const uint32_t u = gds_f32_bits(v == 0.0f ? 0.0f : v);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
static inline float gds_topk_unord(uint32_t o) {
    return gds_bits_f32((o & 0x80000000u) ? (o & 0x7fffffffu) : ~o);
}

static inline void gds_swap_u64(uint64_t *a, uint64_t *b) { uint64_t t = *a; *a = *b; *b = t; }

/* Hoare partition of a[lo..hi] (descending) around a median-of-3 pivot:
 * afterwards a[lo..*j] >= pivot >= a[*i..hi] and *j < *i. */
static void gds_topk_partition(uint64_t *a, int64_t lo, int64_t hi, int64_t *pi, int64_t *pj) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (a[mid] > a[lo]) gds_swap_u64(&a[mid], &a[lo]);
    if (a[hi] > a[lo]) gds_swap_u64(&a[hi], &a[lo]);
    if (a[hi] > a[mid]) gds_swap_u64(&a[hi], &a[mid]);
    const uint64_t piv = a[mid];
    int64_t i = lo, j = hi;
    while (i <= j) {
        while (a[i] > piv) i++;
        while (a[j] < piv) j--;
        if (i <= j) { gds_swap_u64(&a[i], &a[j]); i++; j--; }
    }
    *pi = i;
    *pj = j;
}

/* a[0..k-1] become the k largest of a[0..n-1] (any order), a[k-1] the smallest of them */
static void gds_topk_select(uint64_t *a, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    const int64_t t = k - 1;
    while (hi > lo) {
        int64_t i, j;
        gds_topk_partition(a, lo, hi, &i, &j);
        if (t <= j) hi = j;
        else if (t >= i) lo = i;
        else break;
    }
    /* a[t] is the k-th largest; elements before it are >= it */
}

static void gds_topk_sort_desc(uint64_t *a, int64_t n) {
    while (n > 24) {
        int64_t i, j;
        gds_topk_partition(a, 0, n - 1, &i, &j);
        if (j + 1 < n - i) { gds_topk_sort_desc(a, j + 1); a += i; n -= i; }
        else { gds_topk_sort_desc(a + i, n - i); n = j + 1; }
    }
    for (int64_t i = 1; i < n; i++) {
        const uint64_t v = a[i];
        int64_t j = i;
        while (j > 0 && a[j - 1] < v) { a[j] = a[j - 1]; j--; }
        a[j] = v;
    }
}

/* best k keys of xr[c0, c1) (global column indices), k > GDS_TOPK_SMALL: buf[0..ret)
 * in any order; when ret == k, buf[k-1] is the k-th best. buf holds gds_topk_cap(k). */
static int64_t gds_topk_scan(const float *xr, int64_t c0, int64_t c1, int64_t k, uint64_t *buf) {
    const int64_t cap = (int64_t)gds_topk_cap(k);
    float thr = -INFINITY; /* candidates must be > thr (also rejects -inf and NaN) */
    int64_t cnt = 0, i = c0;
#define GDS_TOPK_PUSH(v_, i_)                                                                     \
    do {                                                                                          \
        buf[cnt++] = ((uint64_t)gds_topk_ord(v_) << 32) | (uint64_t)(0xffffffffu - (uint32_t)(i_)); \
        if (cnt == cap) {                                                                         \
            gds_topk_select(buf, cnt, k);                                                         \
            cnt = k;                                                                              \
            thr = gds_topk_unord((uint32_t)(buf[k - 1] >> 32));                                   \
        }                                                                                         \
    } while (0)
#if defined(__SSE2__)
    /* 16 at a time: one mask of "> thr" (false for -inf and NaN), then its set bits.
     * A push may raise thr mid-block; the block's later bits then may push keys
     * that no longer beat it: harmless, the buffer only has to hold a superset. */
    for (; i + 16 <= c1; i += 16) {
        const float *b = xr + i;
        const __m128 t = _mm_set1_ps(thr);
        unsigned m = (unsigned)_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(b), t))
                   | (unsigned)_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(b + 4), t)) << 4
                   | (unsigned)_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(b + 8), t)) << 8
                   | (unsigned)_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(b + 12), t)) << 12;
        while (m) {
            const int j = __builtin_ctz(m);
            m &= m - 1;
            GDS_TOPK_PUSH(b[j], i + j);
        }
    }
#else
    for (; i + 16 <= c1; i += 16) {
        const float *b = xr + i;
        int any = 0;
        for (int j = 0; j < 16; j++) any |= b[j] > thr;
        if (!any) continue;
        for (int j = 0; j < 16; j++)
            if (b[j] > thr) GDS_TOPK_PUSH(b[j], i + j);
    }
#endif
    for (; i < c1; i++)
        if (xr[i] > thr) GDS_TOPK_PUSH(xr[i], i);
#undef GDS_TOPK_PUSH
    if (cnt >= k) { gds_topk_select(buf, cnt, k); cnt = k; }
    return cnt;
}

#define GDS_TOPK_PART_MIN 1024 /* columns per part at least (split mode) */
#define GDS_TOPK_PART_MAX 64   /* parts per row at most */

/* split mode: rows < nth; thread ith works on row ith / P, part ith % P (threads >= rows*P idle) */
static void gds_topk_split(const struct gds_cpu_params *p, struct gds_tensor *dst, int64_t P) {
    const struct gds_tensor *x = dst->src[0];
    const int64_t n = x->ne[0], k = dst->ne[0], nr = gds_nrows(x);
    uint64_t *base = (uint64_t *)p->wdata;
    const int64_t stride = (int64_t)(gds_topk_stride(k) / sizeof(uint64_t));
    struct gds_topk_part *part = (struct gds_topk_part *)((char *)p->wdata + (size_t)p->nth * gds_topk_stride(k));
    const int64_t r = p->ith / P, pi = p->ith % P;
    const bool active = r < nr;
    uint64_t *buf = base + (int64_t)p->ith * stride;
    const float *xr = NULL;
    int32_t *yr = NULL;

    if (active) {
        const int64_t i1 = r % x->ne[1], i2 = (r / x->ne[1]) % x->ne[2], i3 = r / (x->ne[1] * x->ne[2]);
        xr = gds_f32_ptr(x, 0, i1, i2, i3);
        yr = gds_i32_ptr(dst, 0, i1, i2, i3);
        int64_t c0, c1;
        gds_cpu_split(n, (int)pi, (int)P, &c0, &c1);
        const int64_t cnt = gds_topk_scan(xr, c0, c1, k, buf);
        part[p->ith].cnt = cnt;
        part[p->ith].kth = cnt == k ? buf[k - 1] : 0;
    }
    gds_cpu_barrier(p);
    if (active) {
        const int64_t t0 = r * P;
        uint64_t lb = 0;
        for (int64_t q = 0; q < P; q++) lb = part[t0 + q].kth > lb ? part[t0 + q].kth : lb;
        int64_t cnt = 0;
        for (int64_t j = 0; j < part[p->ith].cnt; j++)
            if (buf[j] >= lb) buf[cnt++] = buf[j];
        gds_topk_sort_desc(buf, cnt);
        part[p->ith].cnt = cnt;
    }
    gds_cpu_barrier(p);
    if (active) {
        const int64_t t0 = r * P, cnt = part[p->ith].cnt;
        int64_t tot = 0;
        for (int64_t q = 0; q < P; q++) tot += part[t0 + q].cnt;
        /* rank of buf[j] = j + the keys of the other parts that beat it; all lists
         * are descending, so one forward pointer per part */
        int64_t m[GDS_TOPK_PART_MAX];
        for (int64_t q = 0; q < P; q++) m[q] = 0;
        for (int64_t j = 0; j < cnt; j++) {
            int64_t rank = j;
            for (int64_t q = 0; q < P && rank < k; q++) {
                if (t0 + q == p->ith) continue;
                const uint64_t *o = base + (t0 + q) * stride;
                const int64_t on = part[t0 + q].cnt;
                while (m[q] < on && o[m[q]] > buf[j]) m[q]++;
                rank += m[q];
            }
            if (rank >= k) break; /* later keys rank lower still */
            yr[rank] = (int32_t)(0xffffffffu - (uint32_t)buf[j]);
        }
        if (pi == 0)
            for (int64_t j = tot; j < k; j++) yr[j] = -1;
    }
}

void gds_cpu_op_top_k(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *x = dst->src[0];
    GDS_ASSERT(x->type == GDS_TYPE_F32 && x->nb[0] == 4 && dst->type == GDS_TYPE_I32);
    const int64_t n = x->ne[0], k = dst->ne[0];
    GDS_ASSERT(k > 0 && k <= n && n < INT32_MAX);
    GDS_ASSERT(p->wdata && p->wsize >= gds_cpu_work_top_k(dst, p->nth) - 64);
    uint64_t *buf = (uint64_t *)((char *)p->wdata + (size_t)p->ith * gds_topk_stride(k));

    const int64_t nr = gds_nrows(x);
    if (k > GDS_TOPK_SMALL && nr < p->nth) {
        int64_t P = p->nth / nr;
        if (P > n / GDS_TOPK_PART_MIN) P = n / GDS_TOPK_PART_MIN;
        if (P > GDS_TOPK_PART_MAX) P = GDS_TOPK_PART_MAX;
        if (P >= 2) { gds_topk_split(p, dst, P); return; }
    }

    int64_t r0, r1;
    gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i1 = r % x->ne[1], i2 = (r / x->ne[1]) % x->ne[2], i3 = r / (x->ne[1] * x->ne[2]);
        const float *xr = gds_f32_ptr(x, 0, i1, i2, i3);
        int32_t *yr = gds_i32_ptr(dst, 0, i1, i2, i3);
        int64_t cnt = 0;
        if (k <= GDS_TOPK_SMALL) {
            /* small k (router): keep buf[0..cnt) sorted descending, insert in place */
            float thr = -INFINITY; /* candidates must be > thr (also rejects -inf and NaN) */
            for (int64_t i = 0; i < n; i++) {
                const float v = xr[i];
                if (!(v > thr)) continue;
                const uint64_t key = ((uint64_t)gds_topk_ord(v) << 32) | (uint64_t)(0xffffffffu - (uint32_t)i);
                int64_t j = cnt < k ? cnt++ : k - 1;
                while (j > 0 && buf[j - 1] < key) { buf[j] = buf[j - 1]; j--; }
                buf[j] = key;
                if (cnt == k) thr = gds_topk_unord((uint32_t)(buf[k - 1] >> 32));
            }
        } else {
            cnt = gds_topk_scan(xr, 0, n, k, buf);
            gds_topk_sort_desc(buf, cnt);
        }
        for (int64_t j = 0; j < cnt; j++) yr[j] = (int32_t)(0xffffffffu - (uint32_t)buf[j]);
        for (int64_t j = cnt; j < k; j++) yr[j] = -1;
    }
}
