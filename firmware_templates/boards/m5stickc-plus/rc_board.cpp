// repcount board glue: M5StickC Plus (what differs from the shared Arduino glue,
// rc_arduino.h): the MPU6886 through M5StickCPlus (raw counts) and the count on the screen.
//
// The MPU6886 samples on its own clock: 1 kHz / (1 + 19) = 50 Hz exactly (its sample rate
// divider, set by M5StickCPlus's enableFIFO), and queues every sample in its FIFO, which
// the main loop drains between inferences. The screen is drawn from the main loop too,
// after the app's work, never in the sample path.
#include <Arduino.h>
#include <M5StickCPlus.h>
#include <Wire.h>

#include "rc_arduino.h"

extern "C" {
#include "rc_config.h"
}

#if RC_IMU_ODR_HZ != 50
#error "the MPU6886 glue samples at 50 Hz (MPU6886::ODR_50Hz): the profile must say so"
#endif

#if RC_IMU_FULL_SCALE_G == 2
#define RC_MPU6886_FSR MPU6886::AFS_2G
#elif RC_IMU_FULL_SCALE_G == 4
#define RC_MPU6886_FSR MPU6886::AFS_4G
#elif RC_IMU_FULL_SCALE_G == 8
#define RC_MPU6886_FSR MPU6886::AFS_8G
#else
#define RC_MPU6886_FSR MPU6886::AFS_16G
#endif

// MPU6886 registers the library has no call for (its datasheet, section 10); it sits on
// Wire1 at MPU6886_ADDRESS, as M5StickCPlus set it up in Init().
constexpr uint8_t kIntStatus = 0x3A;     // bit 4 FIFO_OFLOW_INT (cleared by this read)
constexpr uint8_t kFifoCountH = 0x72;    // FIFO_COUNTH, FIFO_COUNTL: bytes in the FIFO
constexpr uint8_t kFifoOverflow = 0x10;
// ACCEL_CONFIG2: ACCEL_FCHOICE_B = 0, A_DLPF_CFG = 4: the accelerometer's low-pass at
// 21.2 Hz (3 dB), below the 25 Hz Nyquist of 50 Hz; Init() leaves it at 218 Hz.
constexpr uint8_t kAccelDlpf21Hz = 0x04;
constexpr int kPacketBytes = 14;         // enableFIFO queues accel, temperature, gyro

static volatile uint32_t g_count;
static uint32_t g_shown = UINT32_MAX;

static bool read_regs(uint8_t address, uint8_t* out, uint8_t n) {
  Wire1.beginTransmission(MPU6886_ADDRESS);
  Wire1.write(address);
  if (Wire1.endTransmission(false) != 0 || Wire1.requestFrom(static_cast<uint8_t>(MPU6886_ADDRESS), n) != n) {
    return false;
  }
  for (uint8_t i = 0; i < n; i++) {
    out[i] = static_cast<uint8_t>(Wire1.read());
  }
  return true;
}

static bool write_checked(uint8_t address, uint8_t value) {
  uint8_t back = 0;
  Wire1.beginTransmission(MPU6886_ADDRESS);
  Wire1.write(address);
  Wire1.write(value);
  return Wire1.endTransmission() == 0 && read_regs(address, &back, 1) && back == value;
}

int rc_arduino_imu_begin(void) {
  if (M5.Imu.Init() != 0) {  // -1: the MPU6886 did not answer with its WHO_AM_I
    return -RC_IMU_ERR_BEGIN;
  }
  M5.Imu.SetAccelFsr(RC_MPU6886_FSR);
  M5.Imu.enableFIFO(MPU6886::ODR_50Hz);
  return write_checked(MPU6886_ACCEL_CONFIG2, kAccelDlpf21Hz) ? 0 : -RC_IMU_ERR_CONFIG;
}

int rc_arduino_imu_service(void) {
  uint8_t status;
  uint8_t count[2];
  if (!read_regs(kIntStatus, &status, 1) || !read_regs(kFifoCountH, count, 2)) {
    return -RC_IMU_ERR_READ;
  }
  if (status & kFifoOverflow) {
    rc_arduino_lost(1);  // at least one sample was overwritten
  }
  for (int n = (count[0] << 8 | count[1]) / kPacketBytes; n > 0; n--) {
    int16_t packet[7];  // ax, ay, az, gx, gy, gz, t
    if (M5.Imu.getFIFOData(packet) != 0) {
      return -RC_IMU_ERR_READ;
    }
    rc_arduino_push(packet);
  }
  return 0;
}

// Called from the app's reports: only remembered here, drawn by loop().
extern "C" void rc_board_show_count(uint32_t count) { g_count = count; }

void setup() {
  M5.begin(true, true, false);  // screen and power management; Serial is ours
  M5.Lcd.setRotation(1);
  M5.Lcd.fillScreen(BLACK);
  M5.Lcd.setTextColor(WHITE, BLACK);  // each glyph paints its background: no clearing
  M5.Lcd.setTextSize(7);
  rc_arduino_setup();
}

void loop() {
  rc_arduino_loop();
  if (g_count != g_shown) {
    char text[12];
    g_shown = g_count;
    snprintf(text, sizeof text, "%-5lu", static_cast<unsigned long>(g_shown % 100000u));
    M5.Lcd.drawString(text, 10, 40);
  }
}
