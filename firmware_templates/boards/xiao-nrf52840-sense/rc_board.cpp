// repcount board glue: Seeed Studio XIAO nRF52840 Sense (what differs from the shared
// Arduino glue, rc_arduino.h): the LSM6DS3TR-C through Seeed Arduino LSM6DS3's register
// access (LSM6DS3Core), raw counts.
//
// The chip samples on its own clock at RC_IMU_ODR_HZ and queues every accelerometer
// sample in its FIFO (continuous mode, about 3 s deep at 208 Hz); the main loop drains it
// between inferences, so an inference never loses a sample and the rate is the chip's,
// not a millisecond schedule. Block data update keeps a sample's bytes together.
#include <Arduino.h>
#include <LSM6DS3.h>
#include <Wire.h>

#include "rc_arduino.h"

extern "C" {
#include "rc_config.h"
}

// LSM6DS3TR-C registers and fields (its datasheet, section 9).
namespace reg {
constexpr uint8_t kFifoCtrl3 = 0x08;     // DEC_FIFO_XL[2:0] = 1: every accelerometer sample
constexpr uint8_t kFifoCtrl5 = 0x0A;     // ODR_FIFO[6:3], FIFO_MODE[2:0] (6: continuous)
constexpr uint8_t kWhoAmI = 0x0F;        // 0x6A
constexpr uint8_t kCtrl1Xl = 0x10;       // ODR_XL[7:4], FS_XL[3:2], LPF1_BW_SEL, BW0_XL
constexpr uint8_t kCtrl2G = 0x11;        // gyroscope off: 0
constexpr uint8_t kCtrl3C = 0x12;        // BDU (bit 6), IF_INC (bit 2)
constexpr uint8_t kCtrl8Xl = 0x17;       // LPF2_XL_EN (bit 7), HPCF_XL[6:5]
constexpr uint8_t kCtrl10C = 0x19;       // FUNC_EN (bit 2): also what turns LPF2 on
constexpr uint8_t kFifoStatus1 = 0x3A;   // DIFF_FIFO[7:0]: unread 16-bit words
constexpr uint8_t kFifoStatus3 = 0x3C;   // FIFO_PATTERN[7:0]: the next word's place (0: x)
constexpr uint8_t kFifoDataOutL = 0x3E;  // the next FIFO word, low byte first
constexpr uint8_t kWhoAmIValue = 0x6A;
constexpr uint8_t kBdu = 0x40, kIfInc = 0x04;
constexpr uint8_t kFifoOverrun = 0x40;   // FIFO_STATUS2 bit 6: the FIFO overwrote samples
}  // namespace reg

#if RC_IMU_ODR_HZ == 104
constexpr uint8_t kOdrCode = 0x4;
#elif RC_IMU_ODR_HZ == 208
constexpr uint8_t kOdrCode = 0x5;
#else
#error "the LSM6DS3TR-C glue supports 104 or 208 Hz"
#endif

#if RC_IMU_FULL_SCALE_G == 2
constexpr uint8_t kFsCode = 0x0;
#elif RC_IMU_FULL_SCALE_G == 4
constexpr uint8_t kFsCode = 0x2;
#elif RC_IMU_FULL_SCALE_G == 8
constexpr uint8_t kFsCode = 0x3;
#else
constexpr uint8_t kFsCode = 0x1;  // 16 g
#endif

static LSM6DS3 imu(I2C_MODE, 0x6A);

static bool write_checked(uint8_t address, uint8_t value) {
  uint8_t back = 0;
  return imu.writeRegister(address, value) == IMU_SUCCESS &&
         imu.readRegister(&back, address) == IMU_SUCCESS && back == value;
}

int rc_arduino_imu_begin(void) {
#ifdef PIN_LSM6DS3TR_C_POWER
  pinMode(PIN_LSM6DS3TR_C_POWER, OUTPUT);  // Seeed's cores power the IMU from a pin
  digitalWrite(PIN_LSM6DS3TR_C_POWER, HIGH);
  delay(10);
#endif
  uint8_t who = 0;
  if (imu.beginCore() != IMU_SUCCESS || imu.readRegister(&who, reg::kWhoAmI) != IMU_SUCCESS ||
      who != reg::kWhoAmIValue) {
    return -RC_IMU_ERR_BEGIN;
  }
  Wire.setClock(400000);
  // Accelerometer: the ODR, the range, the analog anti-alias filter at 400 Hz (BW0_XL), then
  // the digital low-pass LPF2 at ODR/9 (23 Hz at 208 Hz: below a 50 Hz model's 25 Hz
  // Nyquist, so the core's resampler does not fold higher frequencies in).
  const bool ok = write_checked(reg::kCtrl3C, reg::kBdu | reg::kIfInc) &&
                  write_checked(reg::kCtrl2G, 0x00) &&
                  write_checked(reg::kCtrl1Xl, static_cast<uint8_t>(kOdrCode << 4 | kFsCode << 2 | 0x01)) &&
                  write_checked(reg::kCtrl10C, 0x04) &&
                  write_checked(reg::kCtrl8Xl, 0x80 | 0x40) &&
                  write_checked(reg::kFifoCtrl5, 0x00) &&  // bypass: empties the FIFO
                  write_checked(reg::kFifoCtrl3, 0x01) &&
                  write_checked(reg::kFifoCtrl5, static_cast<uint8_t>(kOdrCode << 3 | 0x06));
  return ok ? 0 : -RC_IMU_ERR_CONFIG;
}

// Each FIFO word is read on its own (2 bytes from FIFO_DATA_OUT_L); FIFO_PATTERN says which
// axis a word is, so a sample is queued only when its x, y and z were read in order.
int rc_arduino_imu_service(void) {
  static int16_t xyz[3];
  static uint16_t have;  // axes of the current sample read so far, from its x
  uint8_t status[4];
  if (imu.readRegisterRegion(status, reg::kFifoStatus1, 4) != IMU_SUCCESS) {
    return -RC_IMU_ERR_READ;
  }
  if (status[1] & reg::kFifoOverrun) {
    rc_arduino_lost(1);  // at least one sample was overwritten
  }
  uint16_t words = static_cast<uint16_t>((status[1] & 0x07) << 8 | status[0]);
  uint16_t axis = static_cast<uint16_t>(((status[3] & 0x03) << 8 | status[2]) % 3);
  for (; words > 0; words--, axis = static_cast<uint16_t>((axis + 1) % 3)) {
    uint8_t b[2];
    if (imu.readRegisterRegion(b, reg::kFifoDataOutL, 2) != IMU_SUCCESS) {
      return -RC_IMU_ERR_READ;
    }
    have = axis == have ? static_cast<uint16_t>(have + 1) : 0;
    xyz[axis] = static_cast<int16_t>(b[1] << 8 | b[0]);
    if (have == 3) {
      rc_arduino_push(xyz);
      have = 0;
    }
  }
  return 0;
}

extern "C" void rc_board_show_count(uint32_t count) { (void)count; }  // no screen: the LED blinks

void setup() { rc_arduino_setup(); }

void loop() { rc_arduino_loop(); }
