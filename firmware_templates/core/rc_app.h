/* repcount portable core: the device app and the board interface.
 *
 * The app speaks the serial protocol (docs/protocol.md): it answers HELLO with INFO,
 * announces itself with BOOT at start-up, switches modes, streams IMU samples in capture
 * mode, runs replayed samples through the pipeline with credit-based flow control in
 * replay mode, counts from the IMU in run mode, and reports errors as ERROR frames.
 *
 * A board implements only the rc_board_* functions below and a main loop:
 *
 *     rc_app_init();
 *     for (;;) {
 *         if (!rc_app_poll()) {
 *             sleep until a byte arrives or the next IMU sample is due;
 *         }
 *     }
 */
#ifndef RC_APP_H
#define RC_APP_H

#include <stddef.h>
#include <stdint.h>

/* Samples the device buffers in replay mode: the most the host may have in flight. */
#define RC_REPLAY_CAPACITY 256
/* Resend the last credit after this long with an empty buffer (a lost CREDIT frame must
 * not stall a replay). */
#define RC_CREDIT_REPEAT_MS 250
/* Run mode reports the count at least this often. */
#define RC_COUNT_PERIOD_MS 1000

/* ---- Implemented by the board (firmware_templates/boards/BOARD/) ---- */

/* Send bytes to the host (blocking until they are queued). */
void rc_board_write(const uint8_t *data, size_t len);
/* Take one received byte: 1 and *byte, or 0 when none is waiting. Never blocks. */
int rc_board_read_byte(uint8_t *byte);
/* Read the IMU: 1 and a new sample (board axes, int16 counts at the range the IMU is set
 * to, RC_IMU_FULL_SCALE_G) when one is due at the IMU's rate RC_IMU_ODR_HZ; 0 when none is
 * due yet; negative when the IMU failed or has no more data. Never blocks. */
int rc_board_imu_read(int16_t xyz[3]);
/* Milliseconds since start-up (wraps after 49 days; only differences are used). */
uint32_t rc_board_millis(void);
/* Status LED on (1) or off (0): lit while capturing, blinks on each counted event. */
void rc_board_led(int on);
/* Show the running count (a screen, or a print); boards without one do nothing. */
void rc_board_show_count(uint32_t count);

/* ---- Implemented by the app (rc_app.c) ---- */

/* Initialise the pipeline and the engine and send BOOT (and an ERROR if the engine
 * failed to initialise). Call once, after the board is ready to write. */
void rc_app_init(void);
/* Do the work that is due: received bytes, the IMU, replayed samples. Returns 1 if it did
 * something (call again at once), 0 if the board may sleep until input or the next IMU
 * sample. */
int rc_app_poll(void);
/* Called by the board, from the context that calls rc_app_poll: n IMU samples were lost
 * before rc_board_imu_read could return them (the board's sample queue or the IMU's FIFO
 * was full). They are counted and reported in STATS (imu_overruns), so a stream is never
 * silently shorter than the time it spans. */
void rc_app_imu_overrun(uint32_t n);
/* 1 in the modes that read the IMU (capture, run), else 0: a board whose IMU runs on its
 * own clock drops what it buffered while this is 0 instead of counting it as lost. */
int rc_app_imu_active(void);

#endif
