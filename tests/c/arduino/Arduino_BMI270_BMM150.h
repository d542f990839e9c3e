/* Declarations of Arduino_BMI270_BMM150 (src/BoschSensorClass.h) the glue uses, on the
 * Mbed core: see README.md. */
#ifndef RC_STUB_BMI270_H
#define RC_STUB_BMI270_H
#include "Arduino.h"

namespace mbed {
template <typename F> class Callback;
template <> class Callback<void()> {
 public:
  Callback(void (*function)());
};
}  // namespace mbed

typedef enum { BOSCH_ACCELEROMETER_ONLY, BOSCH_MAGNETOMETER_ONLY, BOSCH_ACCEL_AND_MAGN } CfgBoshSensor_t;

class BoschSensorClass {
 public:
  int begin(CfgBoshSensor_t cfg = BOSCH_ACCEL_AND_MAGN);
  void onInterrupt(mbed::Callback<void()> cb);
  virtual int readAcceleration(float& x, float& y, float& z);
  virtual int accelerationAvailable();
  virtual ~BoschSensorClass();
};
extern BoschSensorClass IMU;

#endif
