/* Declarations of Seeed Arduino LSM6DS3 (LSM6DS3.h) the glue uses: see README.md. */
#ifndef RC_STUB_LSM6DS3_H
#define RC_STUB_LSM6DS3_H
#include "Arduino.h"

#define I2C_MODE 0
#define SPI_MODE 1

typedef enum {
  IMU_SUCCESS,
  IMU_HW_ERROR,
  IMU_NOT_SUPPORTED,
  IMU_GENERIC_ERROR,
  IMU_OUT_OF_BOUNDS,
  IMU_ALL_ONES_WARNING,
} status_t;

class LSM6DS3Core {
 public:
  LSM6DS3Core(uint8_t busType, uint8_t inputArg);
  status_t beginCore(void);
  status_t readRegisterRegion(uint8_t* outputPointer, uint8_t offset, uint8_t length);
  status_t readRegister(uint8_t* outputPointer, uint8_t offset);
  status_t writeRegister(uint8_t offset, uint8_t dataToWrite);
};

class LSM6DS3 : public LSM6DS3Core {
 public:
  LSM6DS3(uint8_t busType = I2C_MODE, uint8_t inputArg = 0x6A);
};

#endif
