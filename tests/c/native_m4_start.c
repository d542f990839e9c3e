/* Bare-metal start-up for the native engine's bit-exactness check on QEMU's mps2-an386
 * (Cortex-M4F): vector table, FPU on, .data/.bss set up, main's result printed and the
 * emulator ended through Arm semihosting. Test-only: the firmware has its own board code. */
#include <stdint.h>

extern uint32_t __stack_top, __data_load, __data_start, __data_end, __bss_start, __bss_end;
int main(void);
void rc_m4_reset(void);
void rc_m4_print(const char *text);
void rc_m4_exit(void) __attribute__((noreturn));

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SEMIHOST_WRITE0 0x04
#define SEMIHOST_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int semihost(int op, const void *arg)
{
    register int r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void rc_m4_print(const char *text)
{
    (void)semihost(SEMIHOST_WRITE0, text);
}

void rc_m4_exit(void)
{
    (void)semihost(SEMIHOST_EXIT, (const void *)ADP_STOPPED_APPLICATION_EXIT);
    for (;;) {
    }
}

static void fault(void)
{
    rc_m4_print("native-m4 fault\n");
    rc_m4_exit();
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top, rc_m4_reset, fault, fault, fault, fault, fault,
};

void rc_m4_reset(void)
{
    const uint32_t *src = &__data_load;
    uint32_t *dst;
    SCB_CPACR |= 0xFu << 20; /* CP10/CP11: the hard-float ABI may touch the FPU */
    __asm volatile("dsb\n\tisb" ::: "memory");
    for (dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    (void)main();
    rc_m4_exit();
}
