/* repcount board qemu-mps2-an386: the emulated Arm MPS2 AN386 (Cortex-M4F).
 *
 * The few registers this board uses, written from the Armv7-M architecture manual and
 * Arm's CMSDK APB UART and timer descriptions (no CMSIS), and the board's own services beyond the
 * portable board interface: the instruction counter and the semihosting exit. */
#ifndef RC_QEMU_H
#define RC_QEMU_H

#include <stddef.h>
#include <stdint.h>

#define RC_REG(addr) (*(volatile uint32_t *)(addr))

/* CMSDK APB UART0 */
#define UART0_BASE 0x40004000u
#define UART0_DATA RC_REG(UART0_BASE + 0x00u)
#define UART0_STATE RC_REG(UART0_BASE + 0x04u)
#define UART0_CTRL RC_REG(UART0_BASE + 0x08u)
#define UART0_INTSTATUS RC_REG(UART0_BASE + 0x0Cu)
#define UART0_BAUDDIV RC_REG(UART0_BASE + 0x10u)
#define UART_STATE_TX_FULL 0x1u
#define UART_STATE_RX_FULL 0x2u
#define UART_CTRL_TX_EN 0x1u
#define UART_CTRL_RX_EN 0x2u
#define UART_CTRL_RX_INT_EN 0x8u
#define UART_INT_RX 0x2u
#define UART0_RX_IRQ 0u

/* CMSDK APB timer 0: counts the 25 MHz clock down from RELOAD, interrupts at zero */
#define TIMER0_BASE 0x40000000u
#define TIMER0_CTRL RC_REG(TIMER0_BASE + 0x00u)
#define TIMER0_VALUE RC_REG(TIMER0_BASE + 0x04u)
#define TIMER0_RELOAD RC_REG(TIMER0_BASE + 0x08u)
#define TIMER0_INTCLEAR RC_REG(TIMER0_BASE + 0x0Cu)
#define TIMER_CTRL_EN 0x1u
#define TIMER_CTRL_IRQ_EN 0x8u
#define TIMER0_IRQ 8u

/* System control space */
#define SYST_CSR RC_REG(0xE000E010u)
#define SYST_RVR RC_REG(0xE000E014u)
#define SYST_CVR RC_REG(0xE000E018u)
#define SYST_CSR_ENABLE 0x1u
#define SYST_CSR_TICKINT 0x2u
#define SYST_CSR_CLKSOURCE_CPU 0x4u
#define NVIC_ISER0 RC_REG(0xE000E100u)
#define NVIC_ICER0 RC_REG(0xE000E180u)
#define NVIC_ICPR0 RC_REG(0xE000E280u)
#define SCB_CPACR RC_REG(0xE000ED88u)
#define SCB_VTOR RC_REG(0xE000ED08u)
#define SCB_CFSR RC_REG(0xE000ED28u)
#define SCB_HFSR RC_REG(0xE000ED2Cu)

/* The AN386's processor clock, which SysTick counts (25 MHz). */
#define RC_QEMU_CPU_HZ 25000000u

/* Exit codes the emulator sees (semihosting SYS_EXIT_EXTENDED). None is 0, because an
 * emulator ended by SIGTERM also exits 0. */
#define RC_QEMU_EXIT_FAULT 90 /* HardFault, MemManage, BusFault, UsageFault, NMI, stray IRQ */

/* Starts SysTick, the UART (receiver, its interrupt) and the receive ring. */
void rc_qemu_board_init(void);
/* Takes one received byte from the ring: 1, or 0 when the ring is empty. */
int rc_qemu_read_byte(uint8_t *byte);
/* Sends bytes, waiting while the transmitter is full. */
void rc_qemu_write(const uint8_t *data, size_t len);
/* Sleeps (WFI) until an interrupt, unless a byte is already waiting. */
void rc_qemu_wait_for_input(void);
/* Milliseconds since boot, in the emulator's virtual time. */
uint32_t rc_qemu_millis(void);
/* The most stack used since boot, in bytes (the reset handler paints the stack with
 * RC_QEMU_STACK_PAINT; the high-water mark is the lowest word overwritten). */
uint32_t rc_qemu_stack_peak(void);
#define RC_QEMU_STACK_PAINT 0xA5C3A5C3u

/* SysTick ticks since boot (64-bit: the counter's 10 ms wraps are counted). */
uint64_t rc_qemu_ticks(void);
/* Instructions executed since boot, exact when QEMU runs with `-icount shift=7`
 * (virtual time then advances 2^7 ns per instruction); meaningless without -icount. */
uint64_t rc_qemu_instructions(void);
/* The synthetic IMU (rc_imu.c): call from the main loop; starts a new sample stream when
 * the app enters capture or run mode and stops it when it leaves. */
void rc_qemu_imu_follow_app(void);
/* 1 when the IMU has something for rc_board_imu_read (a sample, a loss, its end). */
int rc_qemu_imu_pending(void);
/* Writes a NUL-terminated line to the semihosting console (a file the emulator reads). */
void rc_qemu_console(const char *text);
/* End the emulator with `code` (QEMU's own exit code). */
void rc_qemu_exit(int code) __attribute__((noreturn));

#endif
