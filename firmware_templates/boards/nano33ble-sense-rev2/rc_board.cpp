// repcount board glue: Arduino Nano 33 BLE Sense Rev2 (what differs from the shared
// Arduino glue, rc_arduino.h): the BMI270 through Arduino_BMI270_BMM150.
//
// The library sets the accelerometer to 100 Hz, +-4 g, OSR2 averaging, and maps its
// data-ready to INT1. Each sample is read when INT1 fires, in the library's high-priority
// event thread, so an inference running in loop() never delays or drops a read; the
// 100 Hz of the BMI270's own clock is the sample rate (no millisecond schedule).
#include <Arduino.h>
#include <Arduino_BMI270_BMM150.h>
#include <math.h>

#include "rc_arduino.h"

extern "C" {
#include "rc_app.h"
#include "rc_config.h"
}

#if RC_IMU_ODR_HZ != 100 || RC_IMU_FULL_SCALE_G != 4
#error "Arduino_BMI270_BMM150 fixes the BMI270 at 100 Hz and +-4 g: the profile must say so"
#endif

// The library returns g as floats (counts / 8192 at +-4 g): back to the same counts.
static int16_t counts(float g) {
  long v = lroundf(g * (32768.0f / RC_IMU_FULL_SCALE_G));
  return static_cast<int16_t>(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

// INT1 also pulses for the gyroscope's data-ready (the library runs it at the same rate):
// only a new accelerometer sample is queued.
static void on_data_ready() {
  float x, y, z;
  if (!IMU.accelerationAvailable()) {
    return;
  }
  if (!IMU.readAcceleration(x, y, z)) {
    rc_arduino_fail(-RC_IMU_ERR_READ);
    return;
  }
  const int16_t xyz[3] = {counts(x), counts(y), counts(z)};
  rc_arduino_push(xyz);
}

// The handler first (as the library's Interrupts_subclassing example does; it runs only
// once begin() succeeded). BOSCH_ACCELEROMETER_ONLY: the result is the BMI270's (the
// default would return the magnetometer's), and the unused BMM150 is left alone.
int rc_arduino_imu_begin(void) {
  IMU.onInterrupt(on_data_ready);
  return IMU.begin(BOSCH_ACCELEROMETER_ONLY) ? 0 : -RC_IMU_ERR_BEGIN;
}

int rc_arduino_imu_service(void) { return 0; }  // samples arrive through on_data_ready

extern "C" void rc_board_show_count(uint32_t count) { (void)count; }  // no screen: the LED blinks

void setup() { rc_arduino_setup(); }

void loop() { rc_arduino_loop(); }
