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

#define RC_PROTOCOL_VERSION 1
#define RC_MAX_PAYLOAD 240
#define RC_FRAME_OVERHEAD 7                              /* type, seq, crc32 */
#define RC_MAX_FRAME (RC_MAX_PAYLOAD + RC_FRAME_OVERHEAD) /* decoded */
#define RC_MAX_ENCODED (RC_MAX_FRAME + 1)                /* COBS: +1 byte per 254 */
#define RC_MAX_WIRE (RC_MAX_ENCODED + 1)                 /* with the 0x00 delimiter */
#define RC_MAX_SAMPLES_PER_FRAME ((RC_MAX_PAYLOAD - 4) / 6)
#define RC_INFO_STR_MAX 63 /* board, firmware version, engine: longer strings are cut */

enum rc_msg_type {
    RC_MSG_HELLO = 0x01,   /* host: who are you? (empty); starts a new host sequence */
    RC_MSG_INFO = 0x02,    /* device: answer to HELLO (rc_info_t) */
    RC_MSG_BOOT = 0x03,    /* device: INFO sent unasked at start-up; starts a new sequence */
    RC_MSG_MODE = 0x04,    /* host: switch mode (u8); device: echo of the mode entered */
    RC_MSG_SAMPLES = 0x05, /* first index u32, n x int16[3]: capture (device) or replay (host) */
    RC_MSG_CREDIT = 0x06,  /* device, replay: the host may send samples with index < limit u32 */
    RC_MSG_OUTPUT = 0x07,  /* device: inference index u32, int8[output_len] */
    RC_MSG_EVENT = 0x08,   /* device: step index u32, total count u32 */
    RC_MSG_COUNT = 0x09,   /* device, run mode: total count u32, sample index u32 */
    RC_MSG_STATS = 0x0A,   /* host: request (empty); device: its receive counters, 6 x u32 */
    RC_MSG_ERROR = 0x0B    /* device: code u16, arg0 u32, arg1 u32, ASCII text */
};

enum rc_mode { RC_MODE_IDLE = 0, RC_MODE_CAPTURE = 1, RC_MODE_REPLAY = 2, RC_MODE_RUN = 3 };

enum rc_error_code {
    RC_ERR_UNKNOWN_TYPE = 1,
    RC_ERR_BAD_LENGTH = 2,
    RC_ERR_BAD_MODE = 3,
    RC_ERR_ENGINE_INIT = 4,    /* arg0, arg1: engine-specific numbers (e.g. arena needed, had) */
    RC_ERR_ENGINE_INVOKE = 5,
    RC_ERR_SAMPLE_GAP = 6,     /* arg0: the index expected, arg1: the index received */
    RC_ERR_CREDIT_OVERRUN = 7, /* arg0: the granted limit, arg1: the end of the samples sent */
    RC_ERR_NOT_REPLAYING = 8,
    RC_ERR_IMU = 9
};

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
size_t rc_payload_stats(uint8_t *p, const rc_link_stats_t *s);
size_t rc_payload_error(uint8_t *p, uint16_t code, uint32_t arg0, uint32_t arg1, const char *text);

#endif
