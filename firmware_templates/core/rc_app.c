/* repcount portable core: the device app. See rc_app.h and docs/protocol.md. The board
 * id, the firmware version and the model's hash come from the generated rc_config.h. */
#include "rc_app.h"

#include "rc_config.h"
#include "rc_engine.h"
#include "rc_pipeline.h"
#include "rc_protocol.h"

/* Capture mode sends a SAMPLES frame every fifth of a second (5 frames/s). */
#define RC_CAPTURE_BATCH_RAW (RC_SAMPLE_RATE_HZ / 5)
#define RC_CAPTURE_BATCH \
    (RC_CAPTURE_BATCH_RAW < 1 ? 1 \
     : RC_CAPTURE_BATCH_RAW > RC_MAX_SAMPLES_PER_FRAME ? RC_MAX_SAMPLES_PER_FRAME \
     : RC_CAPTURE_BATCH_RAW)
#define RC_LED_BLINK_MS 100

#if RC_OUTPUT_LEN + 4 > RC_MAX_PAYLOAD
#error "the model's output does not fit one OUTPUT frame"
#endif

static rc_rx_t rx;
static uint16_t tx_seq;
static uint8_t tx_wire[RC_MAX_WIRE];
static uint8_t payload[RC_MAX_PAYLOAD];
static uint8_t mode = RC_MODE_IDLE;
static int engine_status;
static uint32_t imu_overruns; /* IMU samples the board lost (rc_app_imu_overrun) in this capture or run */

/* capture */
static int16_t batch[RC_CAPTURE_BATCH][RC_CHANNELS];
static uint32_t batch_n;
static uint32_t captured; /* model-rate samples produced since capture started */

/* replay: samples [consumed, received) wait in the ring */
static int16_t ring[RC_REPLAY_CAPACITY][RC_CHANNELS];
static uint32_t received;
static uint32_t consumed;
static uint32_t granted; /* the last credit limit sent */
static uint32_t credit_ms;

/* run */
static uint32_t run_samples;
static uint32_t run_total;
static uint32_t count_ms;
static uint32_t led_off_ms;
static uint8_t led_blinking;

static void send(uint8_t type, size_t len)
{
    size_t n = rc_frame_encode(type, tx_seq, payload, len, tx_wire);
    tx_seq++;
    rc_board_write(tx_wire, n);
}

static void send_error(uint16_t code, uint32_t arg0, uint32_t arg1, const char *text)
{
    send(RC_MSG_ERROR, rc_payload_error(payload, code, arg0, arg1, text));
}

static void send_info(uint8_t type)
{
    static const uint8_t hash[8] = RC_MODEL_HASH_BYTES;
    rc_info_t info;
    int i;
    info.sample_rate_mhz = (uint32_t)RC_SAMPLE_RATE_HZ * 1000u;
    info.full_scale_g = (uint8_t)RC_FULL_SCALE_G;
    info.window = RC_WINDOW;
    info.hop = RC_HOP;
    info.output_len = RC_OUTPUT_LEN;
    info.threshold = (int8_t)RC_THRESHOLD;
    info.refractory = RC_REFRACTORY;
    info.take_start = RC_TAKE_START;
    info.take_count = RC_TAKE_COUNT;
    info.out_stride = RC_OUT_STRIDE;
    info.replay_capacity = RC_REPLAY_CAPACITY;
    for (i = 0; i < 8; i++) {
        info.model_hash[i] = hash[i];
    }
    info.board = RC_BOARD_ID;
    info.firmware_version = RC_FIRMWARE_VERSION;
    info.engine = RC_ENGINE_NAME;
    send(type, rc_payload_info(payload, &info));
}

static void send_mode(void)
{
    payload[0] = mode;
    send(RC_MSG_MODE, 1);
}

static void send_credit(void)
{
    granted = consumed + RC_REPLAY_CAPACITY;
    credit_ms = rc_board_millis();
    rc_put_u32(payload, granted);
    send(RC_MSG_CREDIT, 4);
}

static void send_count(void)
{
    count_ms = rc_board_millis();
    send(RC_MSG_COUNT, rc_payload_u32_pair(payload, run_total, run_samples));
}

static void send_batch(void)
{
    send(RC_MSG_SAMPLES, rc_payload_samples(payload, captured - batch_n, (const int16_t(*)[3])batch, batch_n));
    batch_n = 0;
}

static void enter_mode(uint8_t m)
{
    if (mode == RC_MODE_CAPTURE && batch_n > 0) {
        send_batch(); /* the samples of an unfinished batch are not lost */
    }
    if ((m == RC_MODE_REPLAY || m == RC_MODE_RUN) && engine_status != 0) {
        send_error(RC_ERR_ENGINE_INIT, (uint32_t)-engine_status, 0, rc_engine_error_message());
        m = RC_MODE_IDLE;
    }
    mode = m;
    if (m == RC_MODE_CAPTURE || m == RC_MODE_RUN) {
        imu_overruns = 0; /* STATS reports the losses of this capture or run */
    }
    rc_pipeline_reset();
    batch_n = 0;
    captured = 0;
    received = 0;
    consumed = 0;
    run_samples = 0;
    run_total = 0;
    rc_board_led(m == RC_MODE_CAPTURE);
    if (m == RC_MODE_RUN) {
        rc_board_show_count(0);
    }
    send_mode();
    if (m == RC_MODE_REPLAY) {
        send_credit();
    }
}

/* The outputs and events of one inference: OUTPUT in replay mode, EVENTs always. */
static void report(const rc_inference_result_t *r)
{
    uint8_t i;
    if (mode == RC_MODE_REPLAY) {
        send(RC_MSG_OUTPUT, rc_payload_output(payload, r->inference, r->output, RC_OUTPUT_LEN));
    }
    for (i = 0; i < r->n_events; i++) {
        uint32_t total = r->total_count - (uint32_t)(r->n_events - 1u - i);
        send(RC_MSG_EVENT, rc_payload_u32_pair(payload, r->event_steps[i], total));
    }
    if (mode == RC_MODE_RUN && r->n_events > 0) {
        run_total = r->total_count;
        rc_board_show_count(run_total);
        rc_board_led(1);
        led_blinking = 1;
        led_off_ms = rc_board_millis();
        send_count();
    }
}

/* Push one model-rate sample through the pipeline; 0, or -1 after an engine failure. */
static int process(const int16_t xyz[RC_CHANNELS])
{
    rc_inference_result_t r;
    int status = rc_pipeline_push(xyz, &r);
    if (status < 0) {
        send_error(RC_ERR_ENGINE_INVOKE, (uint32_t)-status, 0, rc_engine_error_message());
        enter_mode(RC_MODE_IDLE);
        return -1;
    }
    if (status > 0) {
        report(&r);
    }
    return 0;
}

static void on_samples(const rc_frame_t *f)
{
    uint32_t first, n, i;
    if (mode != RC_MODE_REPLAY) {
        send_error(RC_ERR_NOT_REPLAYING, mode, 0, "SAMPLES from the host need replay mode");
        return;
    }
    if (f->len < 10 || (f->len - 4u) % 6u != 0) {
        send_error(RC_ERR_BAD_LENGTH, RC_MSG_SAMPLES, f->len, "SAMPLES payload is 4 + 6n bytes");
        return;
    }
    first = rc_get_u32(f->payload);
    n = (f->len - 4u) / 6u;
    if (first != received) {
        send_error(RC_ERR_SAMPLE_GAP, received, first, "sample index gap: resend from arg0");
        return;
    }
    if (received + n - consumed > RC_REPLAY_CAPACITY) {
        send_error(RC_ERR_CREDIT_OVERRUN, granted, first + n, "samples beyond the granted credit");
        return;
    }
    for (i = 0; i < n; i++) {
        int16_t *slot = ring[(received + i) % RC_REPLAY_CAPACITY];
        const uint8_t *p = f->payload + 4 + 6 * i;
        slot[0] = (int16_t)rc_get_u16(p);
        slot[1] = (int16_t)rc_get_u16(p + 2);
        slot[2] = (int16_t)rc_get_u16(p + 4);
    }
    received += n;
}

static void on_frame(const rc_frame_t *f)
{
    switch (f->type) {
    case RC_MSG_HELLO:
        if (f->len != 0) {
            send_error(RC_ERR_BAD_LENGTH, f->type, f->len, "HELLO has no payload");
            return;
        }
        send_info(RC_MSG_INFO);
        return;
    case RC_MSG_MODE:
        if (f->len != 1) {
            send_error(RC_ERR_BAD_LENGTH, f->type, f->len, "MODE is one byte");
            return;
        }
        if (f->payload[0] > RC_MODE_RUN) {
            send_error(RC_ERR_BAD_MODE, f->payload[0], 0, "modes: 0 idle, 1 capture, 2 replay, 3 run");
            return;
        }
        enter_mode(f->payload[0]);
        return;
    case RC_MSG_SAMPLES:
        on_samples(f);
        return;
    case RC_MSG_STATS:
        if (f->len != 0) {
            send_error(RC_ERR_BAD_LENGTH, f->type, f->len, "a STATS request has no payload");
            return;
        }
        send(RC_MSG_STATS, rc_payload_stats(payload, &rx.stats, imu_overruns));
        return;
    default:
        send_error(RC_ERR_UNKNOWN_TYPE, f->type, f->len, "unknown message type");
        return;
    }
}

/* One IMU reading in capture or run mode; 1 if a sample arrived. */
static int poll_imu(void)
{
    int16_t raw[RC_CHANNELS];
    int16_t out[RC_RESAMPLE_MAX_OUT][RC_CHANNELS];
    int status = rc_board_imu_read(raw);
    int n, i;
    if (status < 0) {
        if (mode == RC_MODE_CAPTURE && batch_n > 0) {
            send_batch(); /* the samples before the failure first */
        }
        send_error(RC_ERR_IMU, (uint32_t)-status, captured + run_samples, "IMU read failed or ended");
        enter_mode(RC_MODE_IDLE);
        return 1;
    }
    if (status == 0) {
        return 0;
    }
    n = rc_imu_sample(raw, out);
    for (i = 0; i < n; i++) {
        if (mode == RC_MODE_CAPTURE) {
            batch[batch_n][0] = out[i][0];
            batch[batch_n][1] = out[i][1];
            batch[batch_n][2] = out[i][2];
            batch_n++;
            captured++;
            if (batch_n == RC_CAPTURE_BATCH) {
                send_batch();
            }
        } else {
            if (process(out[i]) < 0) {
                return 1;
            }
            run_samples++;
        }
    }
    return 1;
}

/* One replayed sample through the pipeline, and the credit it frees. */
static int replay_step(void)
{
    uint32_t now = rc_board_millis();
    if (consumed != received) {
        if (process(ring[consumed % RC_REPLAY_CAPACITY]) < 0) {
            return 1;
        }
        consumed++;
        if (consumed + RC_REPLAY_CAPACITY - granted >= RC_REPLAY_CAPACITY / 4 || consumed == received) {
            send_credit();
        }
        return 1;
    }
    if ((uint32_t)(now - credit_ms) >= RC_CREDIT_REPEAT_MS) {
        send_credit();
        return 1;
    }
    return 0;
}

void rc_app_imu_overrun(uint32_t n)
{
    imu_overruns += n;
}

int rc_app_imu_active(void)
{
    return mode == RC_MODE_CAPTURE || mode == RC_MODE_RUN;
}

void rc_app_init(void)
{
    rc_rx_init(&rx);
    engine_status = rc_pipeline_init();
    rc_pipeline_reset();
    send_info(RC_MSG_BOOT);
    if (engine_status != 0) {
        send_error(RC_ERR_ENGINE_INIT, (uint32_t)-engine_status, 0, rc_engine_error_message());
    }
}

int rc_app_poll(void)
{
    int worked = 0;
    int i;
    uint8_t byte;
    rc_frame_t frame;
    for (i = 0; i < 64 && rc_board_read_byte(&byte); i++) {
        worked = 1;
        if (rc_rx_byte(&rx, byte, &frame)) {
            on_frame(&frame);
        }
    }
    if (led_blinking && (uint32_t)(rc_board_millis() - led_off_ms) >= RC_LED_BLINK_MS) {
        led_blinking = 0;
        rc_board_led(0);
    }
    switch (mode) {
    case RC_MODE_CAPTURE:
        worked |= poll_imu();
        break;
    case RC_MODE_RUN:
        worked |= poll_imu();
        if ((uint32_t)(rc_board_millis() - count_ms) >= RC_COUNT_PERIOD_MS) {
            send_count();
        }
        break;
    case RC_MODE_REPLAY:
        worked |= replay_step();
        break;
    default:
        break;
    }
    return worked;
}
