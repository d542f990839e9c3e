// repcount board glue shared by the Arduino boards (copied into every project whose board
// builds with PlatformIO's Arduino framework). It implements the rc_board_* functions of
// rc_app.h that are the same on every Arduino core: USB or UART serial, the status LED,
// the millisecond clock, and the IMU sample queue. Each board's rc_board.cpp keeps only
// what differs: how its IMU is set up and how its samples reach the queue.
//
// The sample path never waits for inference: samples travel from the IMU (its hardware
// FIFO, or its data-ready interrupt) into the queue below independently of rc_app_poll(),
// which runs the inferences and the serial writes. A sample that finds the queue full, or
// that the IMU's own FIFO had to drop, is counted and handed to the app as an overrun
// (rc_app_imu_overrun), which reports it in STATS: a stream is never silently shorter.
#ifndef RC_ARDUINO_H
#define RC_ARDUINO_H

#include <stdint.h>

// Samples the queue holds: over a second at the boards' IMU rates, far longer than an
// inference or a blocked serial write.
#define RC_ARDUINO_QUEUE_CAPACITY 256u

// Why the IMU failed: the argument (negated) of the ERROR frame the app sends when the host
// asks for capture or run mode, and the LED blinks fast while it lasts.
enum rc_arduino_imu_error {
  RC_IMU_ERR_BEGIN = 1,   // not found, wrong identity, or its library's begin failed
  RC_IMU_ERR_CONFIG = 2,  // a register write (rate, range, filter, FIFO) did not take
  RC_IMU_ERR_READ = 3     // a bus read failed while running
};

// ---- Implemented by the board (its rc_board.cpp) ----

// Set the IMU up (rate RC_IMU_ODR_HZ, range RC_IMU_FULL_SCALE_G, anti-alias filter, FIFO or
// data-ready) and start it; 0, or a negative rc_arduino_imu_error.
int rc_arduino_imu_begin(void);
// Move what the IMU's FIFO holds into the queue (rc_arduino_push); 0, or a negative
// rc_arduino_imu_error. Called from the main loop before every rc_app_poll().
int rc_arduino_imu_service(void);

// ---- Implemented here (rc_arduino.cpp) ----

// Producer side: one IMU sample (board axes, counts at RC_IMU_FULL_SCALE_G). Safe from one
// producer context (the main loop, or one interrupt-driven thread) while the main loop
// consumes. Returns 1, or 0 when the queue is full (the sample is counted as an overrun).
int rc_arduino_push(const int16_t xyz[3]);
// Producer side: n samples the IMU itself lost (its FIFO overflowed).
void rc_arduino_lost(uint32_t n);
// Producer side: the IMU failed while running (a negative rc_arduino_imu_error).
void rc_arduino_fail(int error);

// The shared set-up and main loop, called from the board's setup() and loop().
void rc_arduino_setup(void);
void rc_arduino_loop(void);

#endif
