/* A minimal program on the qemu-mps2-an386 board glue alone (no protocol, no model), so
 * tests/test_emulator.py can check the board: UART receive interrupt and ring buffer,
 * transmit, the instruction counter and the semihosting exit codes.
 *   any other byte b -> echoes b + 1
 *   'i' -> runs a 2-instruction loop 100000 times, prints the instructions it counted
 *   's' -> prints the stack high-water mark (bytes)
 *   'o' -> recurses until the stack overflows (a fault)
 *   'x' -> exits with code 42;  'f' -> jumps to unmapped memory (a fault) */
#include <stddef.h>
#include <stdint.h>

#include "rc_qemu.h"

#define LOOPS 100000u

static void print_u32(uint32_t v)
{
    uint8_t out[11];
    size_t n = sizeof out;
    out[--n] = '\n';
    do {
        out[--n] = (uint8_t)('0' + v % 10u);
        v /= 10u;
    } while (v);
    rc_qemu_write(out + n, sizeof out - n);
}

static void count_loop(void)
{
    uint32_t n = LOOPS;
    uint64_t start = rc_qemu_instructions();
    __asm volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    print_u32((uint32_t)(rc_qemu_instructions() - start));
}

static uint32_t recurse(volatile uint32_t depth)
{
    volatile uint8_t frame[256];
    if (depth == UINT32_MAX) { /* never: 4 KB of stack run out long before */
        return 0;
    }
    frame[depth & 0xFFu] = (uint8_t)depth;
    return recurse(depth + 1u) + frame[(depth + 1u) & 0xFFu];
}

int main(void)
{
    rc_qemu_board_init();
    for (;;) {
        uint8_t b;
        while (rc_qemu_read_byte(&b)) {
            if (b == 'x') {
                rc_qemu_exit(42);
            } else if (b == 'f') {
                ((void (*)(void))0x30000001u)();
            } else if (b == 's') {
                print_u32(rc_qemu_stack_peak());
            } else if (b == 'o') {
                print_u32(recurse(0));
            } else if (b == 'i') {
                count_loop();
            } else {
                uint8_t c = (uint8_t)(b + 1u);
                rc_qemu_write(&c, 1);
            }
        }
        rc_qemu_wait_for_input();
    }
}
