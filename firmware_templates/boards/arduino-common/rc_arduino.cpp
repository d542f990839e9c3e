// repcount board glue shared by the Arduino boards: see rc_arduino.h.
#include "rc_arduino.h"

#include <Arduino.h>

#include <atomic>

extern "C" {
#include "rc_app.h"
#include "rc_config.h"
}

static_assert((RC_ARDUINO_QUEUE_CAPACITY & (RC_ARDUINO_QUEUE_CAPACITY - 1u)) == 0,
              "the queue capacity must be a power of two (the indices wrap)");

namespace {

// Single producer, single consumer: the producer writes `head` (and the slot before it),
// the consumer `tail`; release/acquire order the slot against the index, so the producer
// may be another thread (the Nano's data-ready handler) or the main loop itself.
int16_t g_queue[RC_ARDUINO_QUEUE_CAPACITY][3];
std::atomic<uint32_t> g_head(0);
std::atomic<uint32_t> g_tail(0);
std::atomic<uint32_t> g_lost(0);      // producer: samples dropped (queue full, IMU FIFO full)
uint32_t g_lost_reported;             // consumer: how many of them the app has been told of
std::atomic<int> g_imu_status(0);     // 0, or the negative rc_arduino_imu_error
uint32_t g_blink_ms;
bool g_blink_on;

}  // namespace

int rc_arduino_push(const int16_t xyz[3]) {
  uint32_t head = g_head.load(std::memory_order_relaxed);
  if (head - g_tail.load(std::memory_order_acquire) >= RC_ARDUINO_QUEUE_CAPACITY) {
    g_lost.fetch_add(1u, std::memory_order_relaxed);
    return 0;
  }
  int16_t* slot = g_queue[head & (RC_ARDUINO_QUEUE_CAPACITY - 1u)];
  slot[0] = xyz[0];
  slot[1] = xyz[1];
  slot[2] = xyz[2];
  g_head.store(head + 1u, std::memory_order_release);
  return 1;
}

void rc_arduino_lost(uint32_t n) { g_lost.fetch_add(n, std::memory_order_relaxed); }

void rc_arduino_fail(int error) { g_imu_status.store(error, std::memory_order_relaxed); }

extern "C" void rc_board_write(const uint8_t* data, size_t len) { Serial.write(data, len); }

extern "C" int rc_board_read_byte(uint8_t* byte) {
  if (Serial.available() <= 0) {
    return 0;
  }
  *byte = static_cast<uint8_t>(Serial.read());
  return 1;
}

// The consumer: the app takes queued samples in order; losses are reported before the
// sample that follows them, so the host can place the gap.
extern "C" int rc_board_imu_read(int16_t xyz[3]) {
  uint32_t lost = g_lost.load(std::memory_order_relaxed);
  if (lost != g_lost_reported) {
    rc_app_imu_overrun(lost - g_lost_reported);
    g_lost_reported = lost;
  }
  uint32_t tail = g_tail.load(std::memory_order_relaxed);
  if (g_head.load(std::memory_order_acquire) == tail) {
    return g_imu_status.load(std::memory_order_relaxed);  // 0: none due; negative: failed
  }
  const int16_t* slot = g_queue[tail & (RC_ARDUINO_QUEUE_CAPACITY - 1u)];
  xyz[0] = slot[0];
  xyz[1] = slot[1];
  xyz[2] = slot[2];
  g_tail.store(tail + 1u, std::memory_order_release);
  return 1;
}

extern "C" uint32_t rc_board_millis(void) { return millis(); }

extern "C" void rc_board_led(int on) {
  digitalWrite(RC_BOARD_LED, (on != 0) != (RC_BOARD_LED_ACTIVE_LOW != 0) ? HIGH : LOW);
}

void rc_arduino_setup(void) {
  pinMode(RC_BOARD_LED, OUTPUT);
  rc_board_led(0);
  Serial.begin(RC_BOARD_BAUD);
  rc_arduino_fail(rc_arduino_imu_begin());
  rc_app_init();
}

// An IMU failure also shows without a host: the LED blinks at 4 Hz while the app is idle.
void rc_arduino_loop(void) {
  if (g_imu_status.load(std::memory_order_relaxed) == 0) {
    int status = rc_arduino_imu_service();
    if (status != 0) {
      rc_arduino_fail(status);
    }
  } else if (static_cast<uint32_t>(millis() - g_blink_ms) >= 125u) {
    g_blink_ms = millis();
    g_blink_on = !g_blink_on;
    rc_board_led(g_blink_on ? 1 : 0);
  }
  if (!rc_app_imu_active()) {  // idle or replay: what the IMU queued is not wanted, not lost
    g_tail.store(g_head.load(std::memory_order_acquire), std::memory_order_release);
    g_lost_reported = g_lost.load(std::memory_order_relaxed);
  }
  rc_app_poll();
}
