/* Checks the C protocol against tests/vectors/protocol.json, which the test turns into
 * protocol_vectors.h (byte strings as C literals). Prints each mismatch; exit 1 if any. */
#include <stdio.h>
#include <string.h>

#include "rc_protocol.h"

typedef struct {
    const char *name;
    const char *a; /* decoded */
    size_t a_len;
    const char *b; /* encoded */
    size_t b_len;
} bytes_vec_t;
typedef struct {
    const char *name;
    const char *data;
    size_t len;
    uint32_t crc;
} crc_vec_t;
typedef struct {
    const char *name;
    uint8_t type;
    uint16_t seq;
    const char *payload;
    size_t payload_len;
    const char *wire;
    size_t wire_len;
} frame_vec_t;
typedef struct {
    const char *name;
    const char *wire;
    size_t wire_len;
    const frame_vec_t *frames;
    size_t n_frames;
    rc_link_stats_t stats;
} stream_vec_t;

#include "protocol_vectors.h"

static int failures;

static void check(int ok, const char *what, const char *name)
{
    if (!ok) {
        printf("FAIL %s: %s\n", what, name);
        failures++;
    }
}

static void check_cobs(void)
{
    size_t i;
    for (i = 0; i < sizeof cobs_vectors / sizeof cobs_vectors[0]; i++) {
        const bytes_vec_t *v = &cobs_vectors[i];
        uint8_t buf[600];
        size_t n = rc_cobs_encode((const uint8_t *)v->a, v->a_len, buf);
        int m;
        check(n == v->b_len && memcmp(buf, v->b, n) == 0, "cobs encode", v->name);
        memcpy(buf, v->b, v->b_len);
        m = rc_cobs_decode(buf, v->b_len);
        check(m == (int)v->a_len && memcmp(buf, v->a, v->a_len) == 0, "cobs decode", v->name);
    }
}

static void check_crc(void)
{
    size_t i;
    for (i = 0; i < sizeof crc_vectors / sizeof crc_vectors[0]; i++) {
        check(rc_crc32((const uint8_t *)crc_vectors[i].data, crc_vectors[i].len) == crc_vectors[i].crc,
              "crc32", crc_vectors[i].name);
    }
}

static void check_frames(void)
{
    size_t i, k;
    for (i = 0; i < sizeof frame_vectors / sizeof frame_vectors[0]; i++) {
        const frame_vec_t *v = &frame_vectors[i];
        uint8_t wire[RC_MAX_WIRE];
        rc_rx_t rx;
        rc_frame_t f;
        int got = 0;
        size_t n = rc_frame_encode(v->type, v->seq, (const uint8_t *)v->payload, v->payload_len, wire);
        check(n == v->wire_len && memcmp(wire, v->wire, n) == 0, "frame encode", v->name);
        rc_rx_init(&rx);
        for (k = 0; k < v->wire_len; k++) {
            if (rc_rx_byte(&rx, (uint8_t)v->wire[k], &f)) {
                got++;
                check(f.type == v->type && f.seq == v->seq && f.len == v->payload_len &&
                      memcmp(f.payload, v->payload, f.len) == 0, "frame decode", v->name);
            }
        }
        check(got == 1, "frame decode count", v->name);
    }
}

static void check_streams(void)
{
    size_t i, k;
    for (i = 0; i < sizeof stream_vectors / sizeof stream_vectors[0]; i++) {
        const stream_vec_t *v = &stream_vectors[i];
        rc_rx_t rx;
        rc_frame_t f;
        size_t got = 0;
        rc_rx_init(&rx);
        for (k = 0; k < v->wire_len; k++) {
            if (rc_rx_byte(&rx, (uint8_t)v->wire[k], &f)) {
                const frame_vec_t *e = &v->frames[got < v->n_frames ? got : 0];
                check(got < v->n_frames && f.type == e->type && f.seq == e->seq &&
                      f.len == e->payload_len && memcmp(f.payload, e->payload, f.len) == 0,
                      "stream frame", v->name);
                got++;
            }
        }
        check(got == v->n_frames, "stream frame count", v->name);
        check(memcmp(&rx.stats, &v->stats, sizeof rx.stats) == 0, "stream counters", v->name);
    }
}

static void check_payload(size_t n, const uint8_t *p, const char *expected, size_t expected_len,
                          const char *name)
{
    check(n == expected_len && memcmp(p, expected, n) == 0, "payload", name);
}

int main(void)
{
    uint8_t p[RC_MAX_PAYLOAD];
    check_cobs();
    check_crc();
    check_frames();
    check_streams();
    check_payload(rc_payload_info(p, &info_vector), p, INFO_PAYLOAD, sizeof INFO_PAYLOAD - 1, "info");
    check_payload(rc_payload_samples(p, SAMPLES_FIRST, samples_vector, SAMPLES_N), p, SAMPLES_PAYLOAD,
                  sizeof SAMPLES_PAYLOAD - 1, "samples");
    check_payload(rc_payload_output(p, OUTPUT_INFERENCE, output_vector, sizeof output_vector), p,
                  OUTPUT_PAYLOAD, sizeof OUTPUT_PAYLOAD - 1, "output");
    check_payload(rc_payload_u32_pair(p, EVENT_STEP, EVENT_TOTAL), p, EVENT_PAYLOAD, sizeof EVENT_PAYLOAD - 1,
                  "event");
    check_payload(rc_payload_u32_pair(p, COUNT_TOTAL, COUNT_SAMPLE), p, COUNT_PAYLOAD, sizeof COUNT_PAYLOAD - 1,
                  "count");
    check_payload(rc_payload_stats(p, &stats_vector, STATS_IMU_OVERRUNS), p, STATS_PAYLOAD, sizeof STATS_PAYLOAD - 1, "stats");
    check_payload(rc_payload_error(p, ERROR_CODE, ERROR_ARG0, ERROR_ARG1, ERROR_TEXT), p, ERROR_PAYLOAD,
                  sizeof ERROR_PAYLOAD - 1, "error");
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
