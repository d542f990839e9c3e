/* repcount portable core: the one requantisation helper, shared by the core (input
 * quantisation) and the native engine (every kernel that rescales).
 *
 * rc_mbqm is TFLite Micro's MultiplyByQuantizedMultiplier, x * multiplier * 2^(shift - 31)
 * with TFLM's double rounding: first SaturatingRoundingDoublingHighMul(x * 2^max(shift, 0),
 * multiplier), then RoundingDivideByPOT by 2^max(-shift, 0), halves away from zero. For a
 * multiplier above INT32_MIN (every multiplier quantize_multiplier makes: 0 or in
 * [2^30, 2^31)) gemmlowp's nudge-and-truncate equals (x m + 2^30) >> 31 for every product
 * and cannot saturate, so the high multiply is one SMLAL on a Cortex-M. It is static and
 * inline (always inlined under GCC: -Os would otherwise call it per output value), so each
 * translation unit has its own copy and no symbol can clash. */
#ifndef RC_REQUANT_H
#define RC_REQUANT_H

#include <stdint.h>

#if defined(__GNUC__)
#define RC_REQUANT_INLINE __attribute__((always_inline)) static inline
#else
#define RC_REQUANT_INLINE static inline
#endif

RC_REQUANT_INLINE int32_t rc_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0, right = left - shift; /* one of them is 0 */
    const int64_t product = (int64_t)(int32_t)((uint32_t)x << left) * multiplier;
    const int32_t high = (int32_t)((product + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)((1u << right) - 1u);
    const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> right) + ((high & mask) > threshold ? 1 : 0);
}

#endif
