/* repcount portable core: the serial protocol's framing and message layouts. The
 * specification is docs/protocol.md; the host's twin is repcount/device/protocol.py, and
 * both pass the golden vectors in tests/vectors/protocol.json.
 *
 * A frame on the wire is COBS(type u8 | seq u16 | payload | crc32 u32) followed by 0x00;
 * every multi-byte field is little-endian. No heap, no floating point: the receiver
 * works in one static buffer of RC_MAX_ENCODED bytes and decodes in place.
 */
#ifndef RC_PROTOCOL_H
#define RC_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

/* The message types, modes, error codes, limits and INFO's layout: rendered from
 * repcount/device/protocol.py, their one definition. */
#include "rc_protocol_defs.h"

#define RC_MAX_FRAME (RC_MAX_PAYLOAD + RC_FRAME_OVERHEAD) /* decoded */
#define RC_MAX_ENCODED (RC_MAX_FRAME + 1)                /* COBS: +1 byte per 254 */
#define RC_MAX_WIRE (RC_MAX_ENCODED + 1)                 /* with the 0x00 delimiter */

/* What a receiver saw (the order of the STATS payload). */
typedef struct {
    uint32_t frames_ok;
    uint32_t crc_errors;
    uint32_t cobs_errors; /* invalid COBS, or too short for a header and a CRC */
    uint32_t overlong;    /* more than RC_MAX_ENCODED bytes before a delimiter */
    uint32_t lost;        /* frames missing between good frames (seq gaps) */
    uint32_t duplicates;  /* same seq as the previous good frame: dropped */
} rc_link_stats_t;

typedef struct {
    uint8_t type;
    uint16_t seq;
    uint16_t len;
    const uint8_t *payload; /* valid until the next rc_rx_byte call */
} rc_frame_t;

typedef struct {
    uint8_t buf[RC_MAX_ENCODED];
    uint16_t n;
    uint8_t overflow;
    uint8_t have_prev;
    uint16_t prev_seq;
    rc_link_stats_t stats;
} rc_rx_t;

typedef struct {
    uint32_t sample_rate_mhz; /* millihertz */
    uint8_t full_scale_g;
    uint16_t window, hop, output_len;
    int8_t threshold;
    uint16_t refractory, take_start, take_count, out_stride;
    uint16_t replay_capacity; /* samples the device buffers in replay mode */
    uint8_t model_hash[8];
    const char *board, *firmware_version, *engine;
} rc_info_t;

uint32_t rc_crc32(const uint8_t *data, size_t len);
/* COBS: encode len bytes into out (room for len + len / 254 + 1); returns bytes written. */
size_t rc_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);
/* Decode in place (output never longer than input); returns the length, or -1 if invalid. */
int rc_cobs_decode(uint8_t *buf, size_t len);

void rc_rx_init(rc_rx_t *rx);
/* Feed one received byte; returns 1 and fills *frame when a good frame completes. */
int rc_rx_byte(rc_rx_t *rx, uint8_t byte, rc_frame_t *frame);

/* One whole frame, delimiter included, into out[RC_MAX_WIRE]; returns its length, or 0 if
 * len > RC_MAX_PAYLOAD. */
size_t rc_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t len, uint8_t *out);

/* Little-endian field access. */
void rc_put_u16(uint8_t *p, uint16_t v);
void rc_put_u32(uint8_t *p, uint32_t v);
uint16_t rc_get_u16(const uint8_t *p);
uint32_t rc_get_u32(const uint8_t *p);

/* Payload builders: each writes into p[RC_MAX_PAYLOAD] and returns the payload length. */
size_t rc_payload_info(uint8_t *p, const rc_info_t *info);
size_t rc_payload_samples(uint8_t *p, uint32_t first, const int16_t (*xyz)[3], size_t n);
size_t rc_payload_output(uint8_t *p, uint32_t inference, const int8_t *values, size_t n);
size_t rc_payload_u32_pair(uint8_t *p, uint32_t a, uint32_t b); /* EVENT, COUNT */
/* STATS: the receiver's counters, then the IMU samples the app was told were lost. */
size_t rc_payload_stats(uint8_t *p, const rc_link_stats_t *s, uint32_t imu_overruns);
size_t rc_payload_error(uint8_t *p, uint16_t code, uint32_t arg0, uint32_t arg1, const char *text);

#endif
