/* Fuzz driver of the C protocol receiver, built with -fsanitize=address,undefined.
 *
 * usage: protocol_fuzz ITERATIONS SEED
 * Each iteration feeds one input to a fresh receiver: random bytes, or a stream of valid
 * frames (random types, seqs and payloads up to RC_MAX_PAYLOAD) with random flips,
 * deletions, duplications, inserted delimiters and long runs without one. After each
 * input it checks what must always hold: the buffer index never passes RC_MAX_ENCODED,
 * every frame returned has a payload within bounds, the counters add up, and a clean
 * frame after a delimiter always gets through. COBS decode gets the raw inputs too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_protocol.h"

static uint64_t state;

static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 16);
}

static uint8_t input[8192];

static size_t valid_stream(void)
{
    size_t n = 0;
    uint16_t seq = (uint16_t)next();
    while (n + RC_MAX_WIRE < sizeof input && next() % 8 != 0) {
        uint8_t payload[RC_MAX_PAYLOAD];
        size_t len = next() % (RC_MAX_PAYLOAD + 1), i;
        for (i = 0; i < len; i++) {
            payload[i] = (uint8_t)(next() % 4 == 0 ? 0 : next());
        }
        n += rc_frame_encode((uint8_t)next(), seq++, payload, len, input + n);
    }
    return n;
}

static size_t mutate(size_t n)
{
    int k, times = 1 + (int)(next() % 8);
    for (k = 0; k < times && n > 0; k++) {
        size_t pos = next() % n, len = 1 + next() % 64;
        switch (next() % 5) {
        case 0:
            input[pos] ^= (uint8_t)(1u << (next() % 8));
            break;
        case 1: /* delete */
            if (pos + len > n) {
                len = n - pos;
            }
            memmove(input + pos, input + pos + len, n - pos - len);
            n -= len;
            break;
        case 2: /* duplicate a slice */
            if (pos + len > n) {
                len = n - pos;
            }
            if (n + len < sizeof input) {
                memmove(input + pos + len, input + pos, n - pos);
                n += len;
            }
            break;
        case 3:
            input[pos] = 0;
            break;
        default: /* a long run without a delimiter */
            len = 200 + next() % 800;
            if (pos + len < sizeof input) {
                memset(input + pos, 0x41 + (int)(next() % 100), len);
                n = n > pos + len ? n : pos + len;
            }
            break;
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    unsigned long iterations, it;
    uint8_t marker[RC_MAX_WIRE];
    size_t marker_len;
    if (argc != 3) {
        fprintf(stderr, "usage: protocol_fuzz ITERATIONS SEED\n");
        return 2;
    }
    iterations = strtoul(argv[1], NULL, 10);
    state = strtoull(argv[2], NULL, 10) * 2654435761u + 1u;
    marker_len = rc_frame_encode(RC_MSG_HELLO, 7, NULL, 0, marker);
    for (it = 0; it < iterations; it++) {
        static rc_rx_t rx;
        rc_frame_t f;
        size_t n, i;
        uint32_t good = 0, last_ok = 0;
        uint8_t copy[sizeof input];
        if (it % 3 == 0) {
            n = 1 + next() % 700;
            for (i = 0; i < n; i++) {
                input[i] = (uint8_t)next();
            }
        } else {
            n = mutate(valid_stream());
        }
        memcpy(copy, input, n);
        (void)rc_cobs_decode(copy, n);
        rc_rx_init(&rx);
        for (i = 0; i < n; i++) {
            if (rc_rx_byte(&rx, input[i], &f)) {
                good++;
                if (f.len > RC_MAX_PAYLOAD || f.payload != rx.buf + 3) {
                    printf("iteration %lu: frame out of bounds (len %u)\n", it, (unsigned)f.len);
                    return 1;
                }
            }
            if (rx.n > RC_MAX_ENCODED) {
                printf("iteration %lu: buffer index %u past RC_MAX_ENCODED\n", it, (unsigned)rx.n);
                return 1;
            }
        }
        if (good != rx.stats.frames_ok) {
            printf("iteration %lu: %u frames returned, frames_ok %u\n", it, good, rx.stats.frames_ok);
            return 1;
        }
        rc_rx_byte(&rx, 0, &f);
        for (i = 0; i < marker_len; i++) {
            last_ok = (uint32_t)rc_rx_byte(&rx, marker[i], &f);
        }
        if (!last_ok || f.type != RC_MSG_HELLO || f.seq != 7) {
            printf("iteration %lu: no resynchronisation on a clean frame\n", it);
            return 1;
        }
    }
    printf("%lu inputs, no failure\n", iterations);
    return 0;
}
