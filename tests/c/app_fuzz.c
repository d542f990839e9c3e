/* Fuzz driver of the device app (rc_app.c with the real pipeline and the stub engine),
 * built with -fsanitize=address,undefined. The board functions below are in memory.
 *
 * usage: app_fuzz ITERATIONS SEED
 * Each iteration sends the app a burst of frames with valid CRCs but hostile contents
 * (random types, modes, lengths, sample indices, credit overruns), sometimes damaged, and
 * polls it. Everything the app sends back must be well-formed: every frame intact, its
 * seq continuous, no payload over RC_MAX_PAYLOAD. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_app.h"
#include "rc_protocol.h"

static uint64_t state;
static uint8_t input[16384];
static size_t in_len, in_pos;
static uint32_t clock_ms;
static rc_rx_t replies;
static unsigned long reply_frames;
static int bad_reply;

static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 16);
}

void rc_board_write(const uint8_t *data, size_t len)
{
    size_t i;
    rc_frame_t f;
    for (i = 0; i < len; i++) {
        if (rc_rx_byte(&replies, data[i], &f)) {
            reply_frames++;
            if (f.len > RC_MAX_PAYLOAD) {
                bad_reply = 1;
            }
        }
    }
}

int rc_board_read_byte(uint8_t *byte)
{
    if (in_pos == in_len) {
        return 0;
    }
    *byte = input[in_pos++];
    return 1;
}

int rc_board_imu_read(int16_t xyz[3])
{
    uint32_t r = next();
    if (r % 500 == 0) {
        return -1;
    }
    if (r % 3 == 0) {
        return 0;
    }
    xyz[0] = (int16_t)next();
    xyz[1] = (int16_t)next();
    xyz[2] = (int16_t)next();
    return 1;
}

uint32_t rc_board_millis(void)
{
    clock_ms += next() % 20;
    return clock_ms;
}

void rc_board_led(int on)
{
    (void)on;
}

void rc_board_show_count(uint32_t count)
{
    (void)count;
}

static uint16_t seq;
static uint32_t replay_index;

static void add_frame(void)
{
    uint8_t payload[RC_MAX_PAYLOAD];
    size_t len = 0, i;
    uint8_t type;
    switch (next() % 6) {
    case 0:
        type = RC_MSG_MODE;
        len = next() % 8 == 0 ? next() % 3 : 1;
        payload[0] = (uint8_t)(next() % 4 == 0 ? next() : next() % 4);
        break;
    case 1:
    case 2: {
        uint32_t n = 1 + next() % RC_MAX_SAMPLES_PER_FRAME;
        type = RC_MSG_SAMPLES;
        rc_put_u32(payload, next() % 4 == 0 ? next() : replay_index);
        for (i = 4; i < 4 + 6 * n; i++) {
            payload[i] = (uint8_t)next();
        }
        len = next() % 10 == 0 ? next() % (RC_MAX_PAYLOAD + 1) : 4 + 6 * n;
        replay_index += n;
        break;
    }
    case 3:
        type = (uint8_t)(next() % 2 ? RC_MSG_HELLO : RC_MSG_STATS);
        len = next() % 8 == 0 ? next() % 5 : 0;
        break;
    default:
        type = (uint8_t)next();
        len = next() % (RC_MAX_PAYLOAD + 1);
        for (i = 0; i < len; i++) {
            payload[i] = (uint8_t)next();
        }
        break;
    }
    if (in_len + RC_MAX_WIRE < sizeof input) {
        in_len += rc_frame_encode(type, seq++, payload, len, input + in_len);
        if (next() % 16 == 0) {
            input[in_len - 1 - next() % 8] ^= (uint8_t)(1u + next() % 255); /* damage */
        }
    }
}

int main(int argc, char **argv)
{
    unsigned long iterations, it;
    if (argc != 3) {
        fprintf(stderr, "usage: app_fuzz ITERATIONS SEED\n");
        return 2;
    }
    iterations = strtoul(argv[1], NULL, 10);
    state = strtoull(argv[2], NULL, 10) * 2654435761u + 1u;
    rc_rx_init(&replies);
    rc_app_init();
    for (it = 0; it < iterations; it++) {
        int polls, frames = 1 + (int)(next() % 12);
        in_len = in_pos = 0;
        if (next() % 8 == 0) {
            replay_index = 0;
        }
        while (frames-- > 0) {
            add_frame();
        }
        for (polls = 0; polls < 400 && (rc_app_poll() || in_pos < in_len); polls++) {
        }
        if (bad_reply || replies.stats.crc_errors || replies.stats.cobs_errors || replies.stats.overlong
            || replies.stats.lost || replies.stats.duplicates) {
            printf("iteration %lu: a malformed reply (crc %u, cobs %u, overlong %u, lost %u, dup %u)\n", it,
                   replies.stats.crc_errors, replies.stats.cobs_errors, replies.stats.overlong,
                   replies.stats.lost, replies.stats.duplicates);
            return 1;
        }
    }
    printf("%lu bursts, %lu replies, all well-formed\n", iterations, reply_frames);
    return 0;
}
