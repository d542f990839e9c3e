/* repcount board qemu-mps2-an386: a synthetic IMU on a hardware timer.
 *
 * The emulated board has no sensor, but its sample path is the real boards' (issue 16):
 * CMSDK APB timer 0 interrupts at RC_IMU_ODR_HZ and its handler puts one sample into a
 * queue of RC_QEMU_IMU_QUEUE samples, whatever the main loop is doing; the main loop
 * (rc_board_imu_read) takes samples out. An inference longer than the queue can cover
 * fills it, and every sample that then finds it full is counted and handed to
 * rc_app_imu_overrun, which reports it in STATS (imu_overruns): the stream is never
 * silently shorter than the time it spans. Under `-icount` the timer runs on the same
 * virtual clock as the instruction count, so how many samples an inference costs does
 * not depend on the host's speed.
 *
 * The sample: x = the sample's number since the stream started (mod 2^16, as int16), so a
 * capture shows exactly which samples were lost; y = 0; z = +1 g (lying flat, face up).
 * Build options (make DEFINES="..."):
 *   -DRC_QEMU_IMU_SAMPLES=N      the IMU ends after N samples (rc_board_imu_read then
 *                                returns -2, as host-linux's at the end of its recording)
 *   -DRC_QEMU_ENGINE_SLOW_MS=N   every inference also busy-waits N ms (rc_cost.c) */
#include <stdint.h>

#include "rc_app.h"
#include "rc_config.h"
#include "rc_qemu.h"

/* As many samples as the Arduino boards and host-linux queue (a power of two). */
#define RC_QEMU_IMU_QUEUE 256u
#define RC_QEMU_IMU_ONE_G (32768 / RC_IMU_FULL_SCALE_G)

void rc_qemu_timer0_irq(void);

static volatile int16_t queue_x[RC_QEMU_IMU_QUEUE];
static volatile uint32_t q_head;   /* written by the interrupt only */
static volatile uint32_t q_tail;   /* written by the main loop only */
static volatile uint32_t produced; /* samples the IMU made in this stream (interrupt) */
static volatile uint32_t lost;     /* of which found the queue full (interrupt) */
static volatile int ended;         /* RC_QEMU_IMU_SAMPLES reached (interrupt) */
static uint32_t lost_reported;     /* main loop */
static int running;                /* main loop */

void rc_qemu_timer0_irq(void)
{
    TIMER0_INTCLEAR = 1u;
#ifdef RC_QEMU_IMU_SAMPLES
    if (produced >= (uint32_t)(RC_QEMU_IMU_SAMPLES)) {
        ended = 1;
        TIMER0_CTRL = 0u;
        return;
    }
#endif
    uint32_t head = q_head;
    if (head - q_tail < RC_QEMU_IMU_QUEUE) {
        queue_x[head & (RC_QEMU_IMU_QUEUE - 1u)] = (int16_t)(uint16_t)produced;
        q_head = head + 1u;
    } else {
        lost++; /* counted before `ended` is set: the main loop reads them in that order */
    }
    produced++;
}

void rc_qemu_imu_follow_app(void)
{
    int active = rc_app_imu_active();
    if (active == running) {
        return;
    }
    /* Outside capture and run nothing is queued; entering either from idle or replay
     * starts a new stream (sample 0 first), so a test knows how many samples the IMU made. */
    TIMER0_CTRL = 0u;
    NVIC_ICER0 = 1u << TIMER0_IRQ;
    TIMER0_INTCLEAR = 1u;
    NVIC_ICPR0 = 1u << TIMER0_IRQ;
    q_head = q_tail = 0u;
    produced = lost = lost_reported = 0u;
    ended = 0;
    running = active;
    if (active) {
        TIMER0_RELOAD = RC_QEMU_CPU_HZ / RC_IMU_ODR_HZ - 1u;
        TIMER0_VALUE = RC_QEMU_CPU_HZ / RC_IMU_ODR_HZ - 1u;
        NVIC_ISER0 = 1u << TIMER0_IRQ;
        TIMER0_CTRL = TIMER_CTRL_EN | TIMER_CTRL_IRQ_EN;
    }
}

int rc_qemu_imu_pending(void)
{
    return running && (q_tail != q_head || ended || lost != lost_reported);
}

int rc_board_imu_read(int16_t xyz[3])
{
    /* `ended` before `lost` before the queue: once the stream has ended, every loss is
     * already counted and every kept sample already queued. */
    int finished = ended;
    uint32_t lost_now = lost;
    uint32_t tail = q_tail;
    if (lost_now != lost_reported) {
        rc_app_imu_overrun(lost_now - lost_reported);
        lost_reported = lost_now;
    }
    if (tail != q_head) {
        xyz[0] = queue_x[tail & (RC_QEMU_IMU_QUEUE - 1u)];
        xyz[1] = 0;
        xyz[2] = (int16_t)RC_QEMU_IMU_ONE_G;
        q_tail = tail + 1u;
        return 1;
    }
    return finished ? -2 : 0;
}
