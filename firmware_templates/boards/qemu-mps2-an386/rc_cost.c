/* repcount board qemu-mps2-an386: the instructions of each inference.
 *
 * The project's Makefile links with `-Wl,--wrap=rc_engine_invoke` (required on this
 * board), so the pipeline's call of the engine lands here: the board counts the
 * instructions the engine executes (exact under QEMU's -icount shift=7, see rc_board.c)
 * and prints one line per inference on the semihosting console, which the emulator
 * writes to a file (repcount.emulator.Emulator.console_lines):
 *     rc-cost inference=12 instructions=56832 stack_peak=460
 * (stack_peak: the most stack in use since boot, in bytes). The serial link is left
 * untouched, so the protocol's byte stream is the same as on a real board.
 * Built with -DRC_QEMU_ENGINE_SLOW_MS=N, each inference then also busy-waits N ms of
 * virtual time (not counted in the line): an engine slower than the IMU, to test that the
 * samples it makes the board miss are counted (rc_imu.c). */
#include <stdint.h>

#include "rc_engine.h"
#include "rc_qemu.h"

/* Weak: a link without the wrap option leaves this file unused instead of failing. */
int __real_rc_engine_invoke(const int8_t *input, int8_t *output) __attribute__((weak));
int __wrap_rc_engine_invoke(const int8_t *input, int8_t *output);

static uint32_t inferences;
static uint32_t counter_overhead = UINT32_MAX;

static char *put_u32(char *p, uint32_t v)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) {
        *p++ = digits[--n];
    }
    return p;
}

static char *put_str(char *p, const char *s)
{
    while (*s) {
        *p++ = *s++;
    }
    return p;
}

int __wrap_rc_engine_invoke(const int8_t *input, int8_t *output)
{
    if (counter_overhead == UINT32_MAX) {
        /* The counter's own cost, measured once and taken off every count. */
        uint64_t a = rc_qemu_instructions();
        counter_overhead = (uint32_t)(rc_qemu_instructions() - a);
    }
    uint64_t start = rc_qemu_instructions();
    int status = __real_rc_engine_invoke(input, output);
    uint32_t used = (uint32_t)(rc_qemu_instructions() - start) - counter_overhead;
#ifdef RC_QEMU_ENGINE_SLOW_MS
    for (uint32_t t0 = rc_qemu_millis(); rc_qemu_millis() - t0 < (uint32_t)(RC_QEMU_ENGINE_SLOW_MS);) {
    }
#endif

    char line[64];
    char *p = put_str(line, "rc-cost inference=");
    p = put_u32(p, inferences++);
    p = put_str(p, " instructions=");
    p = put_u32(p, used);
    p = put_str(p, " stack_peak=");
    p = put_u32(p, rc_qemu_stack_peak());
    p = put_str(p, "\n");
    *p = '\0';
    rc_qemu_console(line);
    return status;
}
