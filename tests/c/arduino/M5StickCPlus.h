/* Declarations of M5StickCPlus (M5StickCPlus.h, utility/MPU6886.h, the screen) the glue
 * uses: see README.md. */
#ifndef RC_STUB_M5STICKCPLUS_H
#define RC_STUB_M5STICKCPLUS_H
#include "Arduino.h"
#include "Wire.h"

#define MPU6886_ADDRESS 0x68
#define MPU6886_ACCEL_CONFIG2 0x1D
#define BLACK 0x0000
#define WHITE 0xFFFF

class MPU6886 {
 public:
  enum Ascale { AFS_2G = 0, AFS_4G, AFS_8G, AFS_16G };
  enum Fodr { ODR_1kHz = 0, ODR_500Hz = 1, ODR_250Hz = 3, ODR_200Hz = 4, ODR_125Hz = 7,
              ODR_100Hz = 9, ODR_50Hz = 19, ODR_10Hz = 99 };
  int Init(void);
  void SetAccelFsr(Ascale scale);
  void enableFIFO(Fodr rate);
  int getFIFOData(int16_t databuf[]);
};

class M5Display {
 public:
  void setRotation(uint8_t r);
  void fillScreen(uint32_t color);
  void setTextColor(uint16_t color, uint16_t backgroundcolor);
  void setTextSize(uint8_t size);
  int16_t drawString(const char* string, int32_t poX, int32_t poY);
};

class M5StickCPlus {
 public:
  void begin(bool LCDEnable = true, bool PowerEnable = true, bool SerialEnable = true);
  M5Display Lcd;
  MPU6886 Imu;
};
extern M5StickCPlus M5;

#endif
