/* Declarations of the Arduino Wire library the glue uses: see README.md. */
#ifndef RC_STUB_WIRE_H
#define RC_STUB_WIRE_H
#include <stdint.h>

class TwoWire {
 public:
  void setClock(uint32_t frequency);
  void beginTransmission(uint8_t address);
  void beginTransmission(int address);
  uint8_t endTransmission(bool sendStop);
  uint8_t endTransmission(void);
  uint8_t requestFrom(uint8_t address, uint8_t size);
  size_t write(uint8_t data);
  int read(void);
};
extern TwoWire Wire;
extern TwoWire Wire1;

#endif
