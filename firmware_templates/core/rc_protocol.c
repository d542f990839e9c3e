/* repcount portable core: the serial protocol. See rc_protocol.h. */
#include "rc_protocol.h"

#if RC_INFO_FIXED_BYTES - RC_INFO_AT_MODEL_HASH != 8
#error "INFO's model hash is 8 bytes (rc_info_t.model_hash)"
#endif

/* CRC-32 of IEEE 802.3, reflected (polynomial 0xEDB88320), four bits at a time: entry i
 * is i shifted through four steps of the bitwise algorithm. 64 bytes of flash. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t rc_crc32(const uint8_t *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    for (i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
    }
    return crc ^ 0xFFFFFFFFu;
}

size_t rc_cobs_encode(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t code_at = 0, w = 1, i;
    uint8_t code = 1;
    int after_full_run = 0; /* a run of 254 non-zero bytes implies no zero after it */
    for (i = 0; i < len; i++) {
        after_full_run = 0;
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = w++;
            code = 1;
            continue;
        }
        out[w++] = in[i];
        if (++code == 0xFF) {
            out[code_at] = code;
            code_at = w++;
            code = 1;
            after_full_run = 1;
        }
    }
    if (after_full_run) {
        return w - 1; /* the code byte reserved after the full run is not needed */
    }
    out[code_at] = code;
    return w;
}

int rc_cobs_decode(uint8_t *buf, size_t len)
{
    size_t r = 0, w = 0;
    while (r < len) {
        uint8_t code = buf[r];
        size_t k;
        if (code == 0 || r + code > len) {
            return -1;
        }
        for (k = 1; k < code; k++) {
            if (buf[r + k] == 0) {
                return -1;
            }
            buf[w++] = buf[r + k];
        }
        r += code;
        if (code != 0xFF && r < len) {
            buf[w++] = 0;
        }
    }
    return (int)w;
}

void rc_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void rc_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

uint16_t rc_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t rc_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void rc_rx_init(rc_rx_t *rx)
{
    uint8_t *p = (uint8_t *)rx;
    size_t i;
    for (i = 0; i < sizeof *rx; i++) {
        p[i] = 0;
    }
}

int rc_rx_byte(rc_rx_t *rx, uint8_t byte, rc_frame_t *frame)
{
    size_t n;
    int len;
    uint8_t type;
    uint16_t seq;
    if (byte != 0) {
        if (rx->n < RC_MAX_ENCODED) {
            rx->buf[rx->n++] = byte;
        } else {
            rx->overflow = 1;
        }
        return 0;
    }
    n = rx->n;
    rx->n = 0;
    if (rx->overflow) {
        rx->overflow = 0;
        rx->stats.overlong++;
        return 0;
    }
    if (n == 0) {
        return 0; /* padding between frames */
    }
    len = rc_cobs_decode(rx->buf, n);
    if (len < RC_FRAME_OVERHEAD) {
        rx->stats.cobs_errors++;
        return 0;
    }
    if (rc_crc32(rx->buf, (size_t)len - 4) != rc_get_u32(rx->buf + len - 4)) {
        rx->stats.crc_errors++;
        return 0;
    }
    type = rx->buf[0];
    seq = rc_get_u16(rx->buf + 1);
    if (type != RC_MSG_HELLO && type != RC_MSG_BOOT && rx->have_prev) {
        uint16_t gap = (uint16_t)(seq - rx->prev_seq - 1u);
        if (gap == 0xFFFFu) {
            rx->stats.duplicates++;
            return 0;
        }
        rx->stats.lost += gap;
    }
    rx->have_prev = 1;
    rx->prev_seq = seq;
    rx->stats.frames_ok++;
    frame->type = type;
    frame->seq = seq;
    frame->len = (uint16_t)(len - RC_FRAME_OVERHEAD);
    frame->payload = rx->buf + 3;
    return 1;
}

size_t rc_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t len, uint8_t *out)
{
    uint8_t body[RC_MAX_FRAME];
    size_t i, n;
    if (len > RC_MAX_PAYLOAD) {
        return 0;
    }
    body[0] = type;
    rc_put_u16(body + 1, seq);
    for (i = 0; i < len; i++) {
        body[3 + i] = payload[i];
    }
    rc_put_u32(body + 3 + len, rc_crc32(body, 3 + len));
    n = rc_cobs_encode(body, len + RC_FRAME_OVERHEAD, out);
    out[n] = 0;
    return n + 1;
}

/* A length-prefixed string of at most RC_INFO_STR_MAX bytes (three fit in a payload). */
static size_t put_str8(uint8_t *p, const char *s)
{
    size_t n = 0;
    while (s[n] != '\0' && n < RC_INFO_STR_MAX) {
        p[1 + n] = (uint8_t)s[n];
        n++;
    }
    p[0] = (uint8_t)n;
    return n + 1;
}

size_t rc_payload_info(uint8_t *p, const rc_info_t *info)
{
    size_t i, n;
    p[RC_INFO_AT_PROTOCOL_VERSION] = RC_PROTOCOL_VERSION;
    rc_put_u32(p + RC_INFO_AT_SAMPLE_RATE_MHZ, info->sample_rate_mhz);
    p[RC_INFO_AT_FULL_SCALE_G] = info->full_scale_g;
    rc_put_u16(p + RC_INFO_AT_WINDOW, info->window);
    rc_put_u16(p + RC_INFO_AT_HOP, info->hop);
    rc_put_u16(p + RC_INFO_AT_OUTPUT_LEN, info->output_len);
    p[RC_INFO_AT_THRESHOLD] = (uint8_t)info->threshold;
    rc_put_u16(p + RC_INFO_AT_REFRACTORY, info->refractory);
    rc_put_u16(p + RC_INFO_AT_TAKE_START, info->take_start);
    rc_put_u16(p + RC_INFO_AT_TAKE_COUNT, info->take_count);
    rc_put_u16(p + RC_INFO_AT_OUT_STRIDE, info->out_stride);
    rc_put_u16(p + RC_INFO_AT_REPLAY_CAPACITY, info->replay_capacity);
    for (i = 0; i < sizeof info->model_hash; i++) {
        p[RC_INFO_AT_MODEL_HASH + i] = info->model_hash[i];
    }
    n = RC_INFO_FIXED_BYTES;
    n += put_str8(p + n, info->board);
    n += put_str8(p + n, info->firmware_version);
    n += put_str8(p + n, info->engine);
    return n;
}

size_t rc_payload_samples(uint8_t *p, uint32_t first, const int16_t (*xyz)[3], size_t n)
{
    size_t i, a;
    if (n > RC_MAX_SAMPLES_PER_FRAME) {
        n = RC_MAX_SAMPLES_PER_FRAME;
    }
    rc_put_u32(p, first);
    for (i = 0; i < n; i++) {
        for (a = 0; a < 3; a++) {
            rc_put_u16(p + 4 + 6 * i + 2 * a, (uint16_t)xyz[i][a]);
        }
    }
    return 4 + 6 * n;
}

size_t rc_payload_output(uint8_t *p, uint32_t inference, const int8_t *values, size_t n)
{
    size_t i;
    if (n > RC_MAX_PAYLOAD - 4) {
        n = RC_MAX_PAYLOAD - 4;
    }
    rc_put_u32(p, inference);
    for (i = 0; i < n; i++) {
        p[4 + i] = (uint8_t)values[i];
    }
    return 4 + n;
}

size_t rc_payload_u32_pair(uint8_t *p, uint32_t a, uint32_t b)
{
    rc_put_u32(p, a);
    rc_put_u32(p + 4, b);
    return 8;
}

size_t rc_payload_stats(uint8_t *p, const rc_link_stats_t *s, uint32_t imu_overruns)
{
    rc_put_u32(p, s->frames_ok);
    rc_put_u32(p + 4, s->crc_errors);
    rc_put_u32(p + 8, s->cobs_errors);
    rc_put_u32(p + 12, s->overlong);
    rc_put_u32(p + 16, s->lost);
    rc_put_u32(p + 20, s->duplicates);
    rc_put_u32(p + 24, imu_overruns);
    return 28;
}

size_t rc_payload_error(uint8_t *p, uint16_t code, uint32_t arg0, uint32_t arg1, const char *text)
{
    size_t n = 10;
    rc_put_u16(p, code);
    rc_put_u32(p + 2, arg0);
    rc_put_u32(p + 6, arg1);
    while (*text != '\0' && n < RC_MAX_PAYLOAD) {
        p[n++] = (uint8_t)*text++;
    }
    return n;
}
