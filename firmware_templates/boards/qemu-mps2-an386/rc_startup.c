/* repcount board qemu-mps2-an386: reset, vector table and faults.
 *
 * No C library start-up files: the reset handler enables the FPU, copies .data from
 * flash, zeroes .bss and calls main. Every fault and every unexpected interrupt ends the
 * emulator with RC_QEMU_EXIT_FAULT, so a crash fails a test at once instead of hanging,
 * after printing where it happened on the semihosting console. */
#include <stdint.h>

#include "rc_qemu.h"

extern uint32_t __stack_bottom, __stack_top;
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
int main(void);
void rc_qemu_uart0_rx_irq(void);
void rc_qemu_systick_irq(void);
void rc_qemu_fault(void);
/* Weak: a program of the board glue alone (tests/c/qemu_board_smoke.c) has no IMU. */
void rc_qemu_timer0_irq(void) __attribute__((weak, alias("rc_qemu_fault")));

void Reset_Handler(void) __attribute__((noreturn));
void rc_qemu_fault_report(const uint32_t *frame) __attribute__((noreturn, used));

typedef void (*rc_vector_t)(void);
extern const rc_vector_t rc_vector_table[16 + 32];

void Reset_Handler(void)
{
    /* Full access to CP10/CP11: the compiler emits FPU instructions (hard-float ABI),
     * and the first one would raise a NOCP UsageFault with the FPU off. */
    SCB_CPACR |= (0xFu << 20);
    __asm volatile("dsb\n\tisb" ::: "memory");
    SCB_VTOR = (uint32_t)(uintptr_t)rc_vector_table;

    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &__stack_bottom; p < sp - 16;) { /* 64 bytes below this frame */
        *p++ = RC_QEMU_STACK_PAINT;
    }

    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    (void)main();
    rc_qemu_exit(RC_QEMU_EXIT_FAULT); /* main never returns on this board */
}

/* The reporter runs on a stack of its own: after a stack overflow the main one is gone. */
static uint32_t fault_stack[64] __attribute__((used, aligned(8)));

/* Every fault and stray interrupt: hand the stacked registers (on the main stack, the
 * only one this board uses) to the reporter. Naked, so no prologue touches the stack. */
__attribute__((naked)) void rc_qemu_fault(void)
{
    __asm volatile(
        "mrs r0, msp\n\t"
        "ldr r1, =fault_stack + 256\n\t"
        "msr msp, r1\n\t"
        "b rc_qemu_fault_report\n\t"
        ".ltorg");
}

static char hex_digit(uint32_t v)
{
    return (char)(v < 10u ? '0' + v : 'a' + (v - 10u));
}

static char *put_hex(char *p, const char *label, uint32_t v)
{
    while (*label) {
        *p++ = *label++;
    }
    for (int shift = 28; shift >= 0; shift -= 4) {
        *p++ = hex_digit((v >> shift) & 0xFu);
    }
    return p;
}

/* Prints `rc-fault exception=0x3 pc=... lr=... cfsr=... hfsr=...` on the semihosting
 * console (the emulator shows it) and ends the emulator with RC_QEMU_EXIT_FAULT. */
void rc_qemu_fault_report(const uint32_t *frame)
{
    uint32_t ipsr;
    char line[96];
    char *p = line;
    /* The stacked frame is readable only if the main stack still held it. */
    int stacked = frame >= &__stack_bottom && frame + 8 <= &__stack_top;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    p = put_hex(p, "rc-fault exception=0x", ipsr & 0x1FFu);
    p = put_hex(p, " pc=0x", stacked ? frame[6] : 0xFFFFFFFFu);
    p = put_hex(p, " lr=0x", stacked ? frame[5] : 0xFFFFFFFFu);
    p = put_hex(p, " cfsr=0x", SCB_CFSR);
    p = put_hex(p, " hfsr=0x", SCB_HFSR);
    *p++ = '\n';
    *p = '\0';
    rc_qemu_console(line);
    rc_qemu_exit(RC_QEMU_EXIT_FAULT);
}

/* 16 system exceptions, then the AN386's 32 external interrupts (UART0 RX is IRQ 0,
 * timer 0 IRQ 8). */
__attribute__((section(".vectors"), used)) const rc_vector_t rc_vector_table[16 + 32] = {
    (rc_vector_t)(uintptr_t)&__stack_top,
    Reset_Handler,
    rc_qemu_fault, /* NMI */
    rc_qemu_fault, /* HardFault */
    rc_qemu_fault, /* MemManage */
    rc_qemu_fault, /* BusFault */
    rc_qemu_fault, /* UsageFault */
    0, 0, 0, 0,
    rc_qemu_fault, /* SVCall */
    rc_qemu_fault, /* DebugMonitor */
    0,
    rc_qemu_fault, /* PendSV */
    rc_qemu_systick_irq,
    rc_qemu_uart0_rx_irq, /* IRQ 0: UART0 receive */
    /* IRQ 1..7: interrupts this board never enables */
    rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault,
    rc_qemu_timer0_irq, /* IRQ 8: timer 0, the IMU's sample clock (rc_imu.c) */
    /* IRQ 9..31: interrupts this board never enables */
    rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault,
    rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault,
    rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault, rc_qemu_fault,
    rc_qemu_fault, rc_qemu_fault, rc_qemu_fault,
};
