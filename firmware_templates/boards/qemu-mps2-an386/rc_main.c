/* repcount board qemu-mps2-an386: main loop and the board interface of rc_app.h.
 *
 * The emulated board has no IMU, LED or screen: its "IMU" is the replay stream the host
 * sends over the UART, so capture and run mode report an IMU error, and the LED and the
 * count are not shown. */
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

int rc_board_imu_read(int16_t xyz[3])
{
    (void)xyz;
    return -1; /* no IMU: samples arrive only in replay mode */
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
        if (!rc_app_poll()) {
            rc_qemu_wait_for_input(); /* a byte, or the next SysTick (time-outs) */
        }
    }
}
