/* Declarations of the Arduino core the glue uses (ArduinoCore-API / the Mbed and ESP32
 * cores): see README.md. */
#ifndef RC_STUB_ARDUINO_H
#define RC_STUB_ARDUINO_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HIGH 0x1
#define LOW 0x0
#define OUTPUT 0x1
#define LED_BUILTIN 13

void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t val);
unsigned long millis(void);
void delay(unsigned long ms);

class HardwareSerial {
 public:
  void begin(unsigned long baud);
  int available(void);
  int read(void);
  size_t write(const uint8_t* buffer, size_t size);
};
extern HardwareSerial Serial;

#endif
