/* repcount board qemu-mps2-an386: main loop and the board interface of rc_app.h.
 *
 * The emulated board has no LED or screen (the LED and the count are not shown) and a
 * synthetic IMU on a timer (rc_imu.c) for capture and run mode; replay mode takes the
 * samples the host sends over the UART. */
#include <stddef.h>
#include <stdint.h>

#include "rc_app.h"
#include "rc_qemu.h"

void rc_board_write(const uint8_t *data, size_t len)
{
    rc_qemu_write(data, len);
}

int rc_board_read_byte(uint8_t *byte)
{
    return rc_qemu_read_byte(byte);
}

uint32_t rc_board_millis(void)
{
    return rc_qemu_millis();
}

void rc_board_led(int on)
{
    (void)on;
}

void rc_board_show_count(uint32_t count)
{
    (void)count;
}

int main(void)
{
    rc_qemu_board_init();
    rc_app_init();
    for (;;) {
        rc_qemu_imu_follow_app();
        /* A sample queued just after the test below waits for the next interrupt (at most
         * a sample period): late, never lost. */
        if (!rc_app_poll() && !rc_qemu_imu_pending()) {
            rc_qemu_wait_for_input(); /* a byte, an IMU sample, or the next SysTick (time-outs) */
        }
    }
}
