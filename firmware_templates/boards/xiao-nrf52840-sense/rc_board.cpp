// repcount board glue: Seeed Studio XIAO nRF52840 Sense.
// The rc_board_* functions of rc_app.h over Arduino: USB serial, the LSM6DS3TR-C through
// Seeed Arduino LSM6DS3 (raw counts), the user LED. Everything else is the portable core.
// The IMU's rate and range, the baud rate and the LED come from the generated rc_config.h.
#include <Arduino.h>
#include <LSM6DS3.h>
#include <Wire.h>

extern "C" {
#include "rc_app.h"
#include "rc_config.h"
}

static LSM6DS3 imu(I2C_MODE, 0x6A);
static bool imu_ok;
static uint32_t start_us;
static uint32_t next_sample_us;
static uint32_t sample_index;

extern "C" void rc_board_write(const uint8_t *data, size_t len) { Serial.write(data, len); }

extern "C" int rc_board_read_byte(uint8_t *byte) {
  if (Serial.available() <= 0) {
    return 0;
  }
  *byte = static_cast<uint8_t>(Serial.read());
  return 1;
}

// Read on a microsecond schedule at the ODR the chip is set to, so the core's resampler
// sees the rate it was generated for.
extern "C" int rc_board_imu_read(int16_t xyz[3]) {
  if (!imu_ok) {
    return -1;
  }
  if (static_cast<int32_t>(micros() - next_sample_us) < 0) {
    return 0;
  }
  sample_index++;  // due times from the start, so 1e6 / ODR need not be a whole number
  next_sample_us = start_us + static_cast<uint32_t>(static_cast<uint64_t>(sample_index) * 1000000u /
                                                    RC_IMU_ODR_HZ);
  xyz[0] = imu.readRawAccelX();
  xyz[1] = imu.readRawAccelY();
  xyz[2] = imu.readRawAccelZ();
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
#ifdef PIN_LSM6DS3TR_C_POWER
  pinMode(PIN_LSM6DS3TR_C_POWER, OUTPUT);  // newer Seeed cores power the IMU from a pin
  digitalWrite(PIN_LSM6DS3TR_C_POWER, HIGH);
  delay(10);
#endif
  imu.settings.gyroEnabled = 0;
  imu.settings.accelRange = RC_IMU_FULL_SCALE_G;
  imu.settings.accelSampleRate = RC_IMU_ODR_HZ;
  imu_ok = imu.begin() == 0;
  start_us = micros();
  next_sample_us = start_us;
  rc_app_init();
}

void loop() { rc_app_poll(); }
