/* vfp: floating point and SIMD.
 *
 * Exercises: VFP double/float arithmetic (+ - * / sqrt, fused multiply-add),
 * libm (sin, cos, exp, log, pow, atan2, floor/ceil/round), int<->float
 * conversions including the saturating ARM conversion of out-of-range
 * values, denormals, NaN/infinity, FPSCR rounding modes via fesetround, and
 * NEON intrinsics (the Makefile builds this file with NEON enabled on arm).
 * Results are printed with fixed precision and as exact bit patterns.
 */
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef __ARM_NEON
#include <arm_neon.h>
#endif

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* volatile inputs so nothing is folded at compile time. */
static volatile double va = 1.5, vb = -2.25, vc = 10.0, vz = 0.0, vthird = 1.0 / 3.0;
static volatile float fa = 1.5f, fb = -2.25f, fc = 10.0f;

static void doubles(void)
{
    double a = va, b = vb, c = vc;
    printf("double: a+b=%.6f a-b=%.6f a*b=%.6f c/a=%.15f\n", a + b, a - b, a * b, c / a);
    printf("double: sqrt(2)=%.15f bits=%016llx\n", sqrt(c / 5),
           (unsigned long long)dbits(sqrt(c / 5)));
    printf("double: fma(1/3,3,-1)=%.17g\n", fma(vthird, 3.0, -1.0));
    printf("double: 0.1+0.2=%.17g bits=%016llx\n", va / 15 + va / 7.5,
           (unsigned long long)dbits(va / 15 + va / 7.5));
    printf("libm: sin(1)=%.12f cos(1)=%.12f tan(0.5)=%.12f\n", sin(a - 0.5), cos(a - 0.5),
           tan(a - 1.0));
    printf("libm: exp(1)=%.12f log(10)=%.12f log2(1024)=%.6f pow(2,0.5)=%.12f\n", exp(a - 0.5),
           log(c), log2(c * 102.4), pow(2.0, a - 1.0));
    printf("libm: atan2(1,-1)=%.12f hypot(3,4)=%.6f cbrt(27)=%.6f\n", atan2(1.0, a - 2.5),
           hypot(a * 2, c - 6), cbrt(c * 2.7));
    printf("libm: floor(-2.25)=%.1f ceil(-2.25)=%.1f round(2.5)=%.1f trunc(-2.25)=%.1f "
           "rint(2.5)=%.1f\n",
           floor(b), ceil(b), round(a + 1.0), trunc(b), rint(a + 1.0));
    printf("special: 1/0=%f -1/0=%f 0/0 is nan: %d sqrt(-1) is nan: %d\n", 1.0 / vz, -1.0 / vz,
           isnan(vz / vz), isnan(sqrt(b)));
    double denorm = 1e-310 * (a - 0.5);
    printf("denormal: %.6g fpclassify subnormal: %d bits=%016llx\n", denorm,
           fpclassify(denorm) == FP_SUBNORMAL, (unsigned long long)dbits(denorm));
    printf("tiny*tiny=%g huge*huge=%g\n", 1e-200 * (a * 1e-200), 1e200 * (a * 1e200));
}

static void floats(void)
{
    float a = fa, b = fb, c = fc;
    printf("float: a+b=%.6f a*b=%.6f c/3=%.9g bits=%08x\n", a + b, a * b, c / 3.0f,
           (unsigned)fbits(c / 3.0f));
    printf("float: sqrtf(10)=%.7g sinf(1.5)=%.7g expf(-2.25)=%.7g\n", sqrtf(c), sinf(a),
           expf(b));
    printf("float: fmaf=%.9g\n", fmaf(a, c, b));
}

static void conversions(void)
{
    volatile double d1 = -7.9, d2 = 7.9, d3 = 3e9, d4 = -3e9, d5 = 1e20;
    volatile int i1 = -123456789;
    volatile unsigned u1 = 4000000000u;
    volatile long long ll = -9007199254740993LL;
    printf("conv: (int)-7.9=%d (int)7.9=%d (unsigned)3e9=%u\n", (int)d1, (int)d2,
           (unsigned)d3);
    printf("conv: (double)%d=%.1f (double)%u=%.1f (double)%lld=%.1f (float)%d=%.1f\n", i1,
           (double)i1, u1, (double)u1, ll, (double)ll, i1, (double)(float)i1);
    printf("conv: lrint(2.5)=%ld lrint(3.5)=%ld llround(-2.5)=%lld\n", lrint(va + 1.0),
           lrint(va + 2.0), llround(vb - 0.25));
#if defined(__arm__) && defined(__ARM_FP)
    /* Out-of-range conversions are undefined in C; the VFP instruction
     * saturates, so test the instruction directly. */
    float r1, r2, r3, r4;
    double dd;
    dd = d3;
    __asm__("vcvt.s32.f64 %0, %P1" : "=t"(r1) : "w"(dd));
    dd = d4;
    __asm__("vcvt.s32.f64 %0, %P1" : "=t"(r2) : "w"(dd));
    dd = d5;
    __asm__("vcvt.s32.f64 %0, %P1" : "=t"(r3) : "w"(dd));
    dd = d4;
    __asm__("vcvt.u32.f64 %0, %P1" : "=t"(r4) : "w"(dd));
    int32_t s1, s2, s3;
    uint32_t s4;
    memcpy(&s1, &r1, 4);
    memcpy(&s2, &r2, 4);
    memcpy(&s3, &r3, 4);
    memcpy(&s4, &r4, 4);
    printf("vcvt saturation: s32(3e9)=%d s32(-3e9)=%d s32(1e20)=%d u32(-3e9)=%u\n", s1, s2, s3,
           s4);
#endif
}

static void rounding(void)
{
    static const int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    static const char *names[] = {"nearest", "upward", "downward", "towardzero"};
    for (int i = 0; i < 4; i++) {
        fesetround(modes[i]);
        volatile double x = vc / 3.0, y = -vc / 3.0;
        volatile float f = fc / 3.0f;
        printf("round %-10s: 10/3=%016llx -10/3=%016llx 10f/3=%08x rint(2.5)=%.1f\n", names[i],
               (unsigned long long)dbits(x), (unsigned long long)dbits(y), (unsigned)fbits(f),
               rint(va + 1.0));
    }
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);
    volatile double q = va / vz;
    (void)q;
    printf("FE_DIVBYZERO raised: %d\n", fetestexcept(FE_DIVBYZERO) != 0);
}

static void neon(void)
{
#ifdef __ARM_NEON
    float32_t fa4[4] = {1.0f, 2.5f, -3.0f, 4.25f}, fb4[4] = {0.5f, 0.5f, 2.0f, -1.0f};
    int32_t ia4[4] = {1, -2, 30000, -40000}, ib4[4] = {7, 7, 70000, 3};
    uint8_t bytes[16];
    for (int i = 0; i < 16; i++)
        bytes[i] = (uint8_t)(i * 17 + 3);

    float32x4_t fs = vaddq_f32(vld1q_f32(fa4), vld1q_f32(fb4));
    float32x4_t fm = vmulq_f32(vld1q_f32(fa4), vld1q_f32(fb4));
    float32x4_t fmla = vmlaq_f32(vld1q_f32(fa4), vld1q_f32(fb4), vld1q_f32(fb4));
    int32x4_t im = vmulq_s32(vld1q_s32(ia4), vld1q_s32(ib4));
    int32x4_t ia = vaddq_s32(vld1q_s32(ia4), vld1q_s32(ib4));
    int16x4_t narrow = vqmovn_s32(im); /* saturating narrow */
    uint8x16_t bv = vld1q_u8(bytes);
    uint8x16_t rev = vrev64q_u8(bv);
    uint8x16_t sat = vqaddq_u8(bv, vdupq_n_u8(100));
    uint16x8_t widened = vpaddlq_u8(bv);
    float o[4];
    int32_t oi[4];
    int16_t on[4];
    uint8_t ob[16], os[16];
    uint16_t ow[8];
    vst1q_f32(o, fs);
    printf("neon vaddq_f32: %g %g %g %g\n", o[0], o[1], o[2], o[3]);
    vst1q_f32(o, fm);
    printf("neon vmulq_f32: %g %g %g %g\n", o[0], o[1], o[2], o[3]);
    vst1q_f32(o, fmla);
    printf("neon vmlaq_f32: %g %g %g %g\n", o[0], o[1], o[2], o[3]);
    vst1q_s32(oi, im);
    printf("neon vmulq_s32: %d %d %d %d\n", oi[0], oi[1], oi[2], oi[3]);
    vst1q_s32(oi, ia);
    printf("neon vaddq_s32: %d %d %d %d\n", oi[0], oi[1], oi[2], oi[3]);
    vst1_s16(on, narrow);
    printf("neon vqmovn_s32: %d %d %d %d\n", on[0], on[1], on[2], on[3]);
    vst1q_u8(ob, rev);
    vst1q_u8(os, sat);
    printf("neon vrev64q_u8:");
    for (int i = 0; i < 16; i++)
        printf(" %u", ob[i]);
    printf("\nneon vqaddq_u8:");
    for (int i = 0; i < 16; i++)
        printf(" %u", os[i]);
    vst1q_u16(ow, widened);
    printf("\nneon vpaddlq_u8:");
    for (int i = 0; i < 8; i++)
        printf(" %u", ow[i]);
    printf("\nneon vaddvq (horizontal sum of vaddq_s32): %d\n",
           vgetq_lane_s32(ia, 0) + vgetq_lane_s32(ia, 1) + vgetq_lane_s32(ia, 2) +
               vgetq_lane_s32(ia, 3));
#else
    printf("neon: not compiled in\n");
#endif
}

int main(void)
{
    doubles();
    floats();
    conversions();
    rounding();
    neon();
    return 0;
}
