// repcount board glue: M5StickC Plus.
// The rc_board_* functions of rc_app.h over Arduino and M5StickCPlus: the USB-UART
// bridge, the MPU6886 (raw counts), the red LED and the count on the screen.
// The IMU's rate and range, the baud rate and the LED come from the generated rc_config.h.
#include <Arduino.h>
#include <M5StickCPlus.h>

extern "C" {
#include "rc_app.h"
#include "rc_config.h"
}

#if RC_IMU_FULL_SCALE_G == 2
#define RC_MPU6886_FSR MPU6886::AFS_2G
#elif RC_IMU_FULL_SCALE_G == 4
#define RC_MPU6886_FSR MPU6886::AFS_4G
#elif RC_IMU_FULL_SCALE_G == 8
#define RC_MPU6886_FSR MPU6886::AFS_8G
#else
#define RC_MPU6886_FSR MPU6886::AFS_16G
#endif

static uint32_t next_sample_ms;
static uint32_t shown = UINT32_MAX;

extern "C" void rc_board_write(const uint8_t *data, size_t len) { Serial.write(data, len); }

extern "C" int rc_board_read_byte(uint8_t *byte) {
  if (Serial.available() <= 0) {
    return 0;
  }
  *byte = static_cast<uint8_t>(Serial.read());
  return 1;
}

// Polled every 1000 / RC_IMU_ODR_HZ ms: the MPU6886 samples faster and its low-pass
// filter is set by M5StickCPlus; we take the latest reading on our schedule.
extern "C" int rc_board_imu_read(int16_t xyz[3]) {
  if (static_cast<int32_t>(millis() - next_sample_ms) < 0) {
    return 0;
  }
  next_sample_ms += 1000u / RC_IMU_ODR_HZ;
  M5.Imu.getAccelAdc(&xyz[0], &xyz[1], &xyz[2]);
  return 1;
}

extern "C" uint32_t rc_board_millis(void) { return millis(); }

extern "C" void rc_board_led(int on) {
  digitalWrite(RC_BOARD_LED, (on != 0) != (RC_BOARD_LED_ACTIVE_LOW != 0) ? HIGH : LOW);
}

extern "C" void rc_board_show_count(uint32_t count) {
  if (count == shown) {
    return;
  }
  shown = count;
  M5.Lcd.fillScreen(BLACK);
  M5.Lcd.setCursor(10, 40);
  M5.Lcd.setTextSize(7);
  M5.Lcd.print(count);
}

void setup() {
  M5.begin(true, true, false);  // screen and power management; Serial is ours
  M5.Lcd.setRotation(1);
  M5.Lcd.setTextColor(WHITE, BLACK);
  pinMode(RC_BOARD_LED, OUTPUT);
  rc_board_led(0);
  Serial.begin(RC_BOARD_BAUD);
  M5.Imu.Init();
  M5.Imu.SetAccelFsr(RC_MPU6886_FSR);
  next_sample_ms = millis();
  rc_board_show_count(0);
  rc_app_init();
}

void loop() { rc_app_poll(); }
