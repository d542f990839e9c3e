// repcount board glue: Arduino Nano 33 BLE Sense Rev2.
// The rc_board_* functions of rc_app.h over Arduino: USB serial, the BMI270 through
// Arduino_BMI270_BMM150, the built-in LED. Everything else is the portable core.
// The IMU's rate and range, the baud rate and the LED come from the generated rc_config.h.
#include <Arduino.h>
#include <Arduino_BMI270_BMM150.h>

extern "C" {
#include "rc_app.h"
#include "rc_config.h"
}

static bool imu_ok;

extern "C" void rc_board_write(const uint8_t *data, size_t len) { Serial.write(data, len); }

extern "C" int rc_board_read_byte(uint8_t *byte) {
  if (Serial.available() <= 0) {
    return 0;
  }
  *byte = static_cast<uint8_t>(Serial.read());
  return 1;
}

// The library fixes the accelerometer at +-4 g and 99.84 Hz and returns g as floats: turn
// them back into counts at RC_IMU_FULL_SCALE_G; the core rescales to the model's range.
static int16_t counts(float g) {
  long v = lroundf(g * (32768.0f / RC_IMU_FULL_SCALE_G));
  return static_cast<int16_t>(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

extern "C" int rc_board_imu_read(int16_t xyz[3]) {
  float x, y, z;
  if (!imu_ok) {
    return -1;
  }
  if (!IMU.accelerationAvailable() || !IMU.readAcceleration(x, y, z)) {
    return 0;  // the BMI270's data-ready paces the samples at its own ODR
  }
  xyz[0] = counts(x);
  xyz[1] = counts(y);
  xyz[2] = counts(z);
  return 1;
}

extern "C" uint32_t rc_board_millis(void) { return millis(); }

extern "C" void rc_board_led(int on) {
  digitalWrite(RC_BOARD_LED, (on != 0) != (RC_BOARD_LED_ACTIVE_LOW != 0) ? HIGH : LOW);
}

extern "C" void rc_board_show_count(uint32_t count) { (void)count; }  // no screen: the LED blinks

void setup() {
  pinMode(RC_BOARD_LED, OUTPUT);
  rc_board_led(0);
  Serial.begin(RC_BOARD_BAUD);
  imu_ok = IMU.begin() != 0;
  rc_app_init();
}

void loop() { rc_app_poll(); }
