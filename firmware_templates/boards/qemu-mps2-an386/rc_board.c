/* repcount board qemu-mps2-an386: UART, time and exit.
 *
 * The CMSDK UART holds one received byte, so its receive interrupt moves each byte into
 * a ring buffer at once and the main loop sleeps with WFI when the ring stays empty for
 * a moment (busy polling would burn a host core). SysTick counts the 25 MHz processor
 * clock; under QEMU's `-icount shift=7` each instruction advances virtual time by
 * exactly 128 ns, which makes a SysTick delta an exact instruction count. */
#include <stddef.h>
#include <stdint.h>

#include "rc_qemu.h"

/* The receive ring: a power of two, so free-running indices wrap with a mask. */
#define RC_QEMU_RX_RING_BYTES 2048u
#define RC_QEMU_ICOUNT_SHIFT 7u
/* Times the main loop looks for a received byte before it sleeps (rc_qemu_wait_for_input). */
#define RC_QEMU_RX_SPIN 4000u
/* SysTick wraps every 10 ms: the main loop's WFI wakes at least that often, so the
 * app's time-outs (e.g. resending a credit) fire on time. */
#define RC_QEMU_SYSTICK_RELOAD (RC_QEMU_CPU_HZ / 100u - 1u)

void rc_qemu_uart0_rx_irq(void);
void rc_qemu_systick_irq(void);

static volatile uint8_t rc_qemu_rx_ring[RC_QEMU_RX_RING_BYTES];
static volatile uint32_t rx_head; /* written by the interrupt only */
static volatile uint32_t rx_tail; /* written by the main loop only */
static volatile uint32_t systick_wraps;

void rc_qemu_uart0_rx_irq(void)
{
    /* Clear first, then drain: a byte that lands after the clear raises the line again. */
    UART0_INTSTATUS = UART_INT_RX;
    while (UART0_STATE & UART_STATE_RX_FULL) {
        uint8_t byte = (uint8_t)UART0_DATA;
        uint32_t head = rx_head;
        /* A byte that finds the ring full is dropped; the protocol's CRC and sequence
         * numbers report the damaged frame. */
        if (head - rx_tail < RC_QEMU_RX_RING_BYTES) {
            rc_qemu_rx_ring[head & (RC_QEMU_RX_RING_BYTES - 1u)] = byte;
            rx_head = head + 1u;
        }
    }
}

void rc_qemu_systick_irq(void)
{
    systick_wraps++;
}

void rc_qemu_board_init(void)
{
    SYST_RVR = RC_QEMU_SYSTICK_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CPU;

    UART0_BAUDDIV = 16u;
    UART0_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INT_EN;
    /* Reading DATA tells QEMU the receiver can take input: bytes the host sent before
     * the receiver was enabled would otherwise wait for the next unrelated event. */
    (void)UART0_DATA;
    UART0_INTSTATUS = UART_INT_RX;
    NVIC_ISER0 = 1u << UART0_RX_IRQ;
}

int rc_qemu_read_byte(uint8_t *byte)
{
    uint32_t tail = rx_tail;
    if (tail == rx_head) {
        return 0;
    }
    *byte = rc_qemu_rx_ring[tail & (RC_QEMU_RX_RING_BYTES - 1u)];
    rx_tail = tail + 1u;
    return 1;
}

void rc_qemu_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while (UART0_STATE & UART_STATE_TX_FULL) {
        }
        UART0_DATA = data[i];
    }
}

void rc_qemu_wait_for_input(void)
{
    /* During a replay a byte arrives every few tens of microseconds, and QEMU's UART hands
     * them over one at a time: waking a sleeping CPU for each costs QEMU more than looking
     * a little longer (replay about 17 % faster, measured). Idle, it sleeps after the spin. */
    for (uint32_t spin = 0; spin < RC_QEMU_RX_SPIN && rx_tail == rx_head; spin++) {
    }
    /* With interrupts masked, a byte arriving between the test and WFI still wakes WFI
     * (it becomes pending), and is handled as soon as they are unmasked. */
    __asm volatile("cpsid i" ::: "memory");
    if (rx_tail == rx_head) {
        __asm volatile("dsb\n\twfi" ::: "memory");
    }
    __asm volatile("cpsie i\n\tisb" ::: "memory");
}

uint32_t rc_qemu_stack_peak(void)
{
    extern uint32_t __stack_bottom, __stack_top;
    const uint32_t *p = &__stack_bottom;
    while (p < &__stack_top && *p == RC_QEMU_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}

uint64_t rc_qemu_ticks(void)
{
    uint32_t wraps, value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return (uint64_t)wraps * (RC_QEMU_SYSTICK_RELOAD + 1u) + (RC_QEMU_SYSTICK_RELOAD - value);
}

uint64_t rc_qemu_instructions(void)
{
    /* ns = ticks * 1e9 / RC_QEMU_CPU_HZ = ticks * 40; instructions = ns >> shift. */
    return (rc_qemu_ticks() * (1000000000u / RC_QEMU_CPU_HZ)) >> RC_QEMU_ICOUNT_SHIFT;
}

uint32_t rc_qemu_millis(void)
{
    return (uint32_t)(rc_qemu_ticks() / (RC_QEMU_CPU_HZ / 1000u));
}

static uint32_t semihost(uint32_t op, const volatile void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const volatile void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void rc_qemu_console(const char *text)
{
    (void)semihost(0x04u, text); /* SYS_WRITE0 */
}

void rc_qemu_exit(int code)
{
    /* Semihosting SYS_EXIT_EXTENDED: {ADP_Stopped_ApplicationExit, code}. */
    static volatile uint32_t block[2];
    block[0] = 0x20026u;
    block[1] = (uint32_t)code;
    (void)semihost(0x20u, block);
    for (;;) {
    }
}
