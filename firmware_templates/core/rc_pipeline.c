/* repcount portable core: the counting pipeline.
 * Ring buffer, resampling, window/hop scheduling, input quantisation, the engine call and
 * the counting post-processor. C99, no heap, no floating point. See rc_pipeline.h. */
#include "rc_pipeline.h"

#include <string.h>

#include "rc_engine.h"

#if RC_INPUT_LEN != RC_WINDOW * RC_CHANNELS
#error "the engine's input length must be RC_WINDOW * RC_CHANNELS"
#endif
#if RC_TAKE_START + RC_TAKE_COUNT > RC_OUTPUT_LEN
#error "the counted slice must lie inside the model's output"
#endif

/* ---- Axis remap for the mount (rc_config.h: model axis i = RC_REMAP_SIGN_i * board
 * axis RC_REMAP_INDEX_i). The signs are constants, so each axis compiles to a load or a
 * saturating negation. ---- */

static int16_t negate_saturating(int16_t v)
{
    return v == INT16_MIN ? INT16_MAX : (int16_t)-v;
}

#define RC_REMAP_AXIS(i) \
    (RC_REMAP_SIGN_##i < 0 ? negate_saturating(board_xyz[RC_REMAP_INDEX_##i]) : board_xyz[RC_REMAP_INDEX_##i])

void rc_remap(const int16_t board_xyz[RC_CHANNELS], int16_t model_xyz[RC_CHANNELS])
{
    model_xyz[0] = RC_REMAP_AXIS(0);
    model_xyz[1] = RC_REMAP_AXIS(1);
    model_xyz[2] = RC_REMAP_AXIS(2);
}

/* ---- Full-scale rescale: IMU range to the model's range ---- */

int16_t rc_rescale_counts(int16_t imu_counts)
{
    int32_t prod = (int32_t)imu_counts * RC_IMU_FULL_SCALE_G;
    int32_t half = RC_FULL_SCALE_G / 2;
    int32_t q = prod >= 0 ? (prod + half) / RC_FULL_SCALE_G : (prod - half) / RC_FULL_SCALE_G;
    return (int16_t)(q < INT16_MIN ? INT16_MIN : (q > INT16_MAX ? INT16_MAX : q));
}

/* ---- Resampling (integer linear interpolation) ---- */

void rc_resampler_init(rc_resampler_t *r, uint32_t in_hz, uint32_t out_hz)
{
    memset(r, 0, sizeof *r);
    r->in_hz = in_hz;
    r->out_hz = out_hz;
}

/* a + (b - a) * num / den, rounded half away from zero; |b - a| * num fits in int32
 * because num < den <= 32767. */
static int16_t lerp(int16_t a, int16_t b, uint32_t num, uint32_t den)
{
    int32_t prod = ((int32_t)b - (int32_t)a) * (int32_t)num;
    int32_t half = (int32_t)(den / 2u);
    int32_t step = prod >= 0 ? (prod + half) / (int32_t)den : (prod - half) / (int32_t)den;
    return (int16_t)((int32_t)a + step);
}

int rc_resampler_push(rc_resampler_t *r, const int16_t in[RC_CHANNELS],
                      int16_t out[][RC_CHANNELS], int capacity)
{
    int n = 0;
    int ch;
    if (!r->primed) {
        memcpy(r->prev, in, sizeof r->prev);
        r->primed = 1;
        r->t = 0;
        return 0;
    }
    /* Inputs are out_hz units apart, outputs in_hz units apart. Outputs beyond
     * `capacity` (a caller's error) are dropped, never written past the buffer. */
    while (r->t < r->out_hz) {
        if (n < capacity) {
            for (ch = 0; ch < RC_CHANNELS; ch++) {
                out[n][ch] = lerp(r->prev[ch], in[ch], r->t, r->out_hz);
            }
            n++;
        }
        r->t += r->in_hz;
    }
    r->t -= r->out_hz;
    memcpy(r->prev, in, sizeof r->prev);
    return n;
}

static rc_resampler_t imu_resampler;

int rc_imu_sample(const int16_t board_xyz[RC_CHANNELS],
                  int16_t out[RC_RESAMPLE_MAX_OUT][RC_CHANNELS])
{
    int16_t model_xyz[RC_CHANNELS];
    int ch;
    rc_remap(board_xyz, model_xyz);
    for (ch = 0; ch < RC_CHANNELS; ch++) {
        model_xyz[ch] = rc_rescale_counts(model_xyz[ch]);
    }
#if RC_IMU_ODR_HZ == RC_SAMPLE_RATE_HZ
    memcpy(out[0], model_xyz, sizeof model_xyz);
    return 1;
#else
    if (imu_resampler.in_hz == 0u) {
        rc_resampler_init(&imu_resampler, RC_IMU_ODR_HZ, RC_SAMPLE_RATE_HZ);
    }
    return rc_resampler_push(&imu_resampler, model_xyz, out, RC_RESAMPLE_MAX_OUT);
#endif
}

/* ---- Input quantisation (rc_mbqm: rc_requant.h) ---- */

int8_t rc_quantize_input(int16_t raw)
{
    int32_t q = RC_INPUT_ZERO_POINT + rc_mbqm(raw, RC_INPUT_MULTIPLIER, RC_INPUT_SHIFT);
    return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
}

/* ---- Counting post-processor (counting.Counter) ---- */

void rc_counter_init(rc_counter_t *c, int32_t threshold, uint32_t refractory)
{
    memset(c, 0, sizeof *c);
    c->threshold = threshold;
    c->refractory = refractory;
    c->prev1 = -128;
    c->prev2 = -128;
}

int rc_counter_push(rc_counter_t *c, int8_t score, uint32_t *event_step)
{
    int event = 0;
    if (c->step >= 1u) {
        uint32_t candidate = c->step - 1u;
        if (c->prev1 >= c->threshold && c->prev1 > c->prev2 && c->prev1 >= score &&
            (!c->any_event || candidate - c->last_event >= c->refractory)) {
            c->last_event = candidate;
            c->any_event = 1;
            c->count++;
            *event_step = candidate;
            event = 1;
        }
    }
    c->prev2 = c->prev1;
    c->prev1 = score;
    c->step++;
    return event;
}

/* ---- The pipeline: ring of quantised samples, window/hop scheduling, engine ---- */

static int8_t ring[RC_WINDOW][RC_CHANNELS]; /* quantised samples; ring[head] is the oldest */
static uint32_t head;
static uint32_t until_inference;            /* samples to push before the next inference */
static uint32_t inferences;
static int8_t window_in[RC_INPUT_LEN];
static int8_t window_out[RC_OUTPUT_LEN];
static rc_counter_t counter;

void rc_pipeline_reset(void)
{
    memset(ring, 0, sizeof ring);
    head = 0u;
    until_inference = RC_WINDOW;
    inferences = 0u;
    rc_counter_init(&counter, RC_THRESHOLD, RC_REFRACTORY);
    memset(&imu_resampler, 0, sizeof imu_resampler);
}

int rc_pipeline_init(void)
{
    rc_pipeline_reset();
    return rc_engine_init();
}

int rc_pipeline_push(const int16_t xyz[RC_CHANNELS], rc_inference_result_t *result)
{
    int ch;
    uint32_t i;
    int status;
    for (ch = 0; ch < RC_CHANNELS; ch++) {
        ring[head][ch] = rc_quantize_input(xyz[ch]);
    }
    head = (head + 1u) % RC_WINDOW;
    if (--until_inference != 0u) {
        return 0;
    }
    until_inference = RC_HOP;
    /* Oldest sample first: ring[head .. RC_WINDOW) then ring[0 .. head). */
    memcpy(window_in, ring[head], (size_t)(RC_WINDOW - head) * RC_CHANNELS);
    memcpy(window_in + (RC_WINDOW - head) * RC_CHANNELS, ring[0], (size_t)head * RC_CHANNELS);
    status = rc_engine_invoke(window_in, window_out);
    if (status != 0) {
        return status < 0 ? status : -1;
    }
    result->inference = inferences++;
    result->output = window_out;
    result->n_events = 0u;
    for (i = 0u; i < RC_TAKE_COUNT; i++) {
        uint32_t step;
        if (rc_counter_push(&counter, window_out[RC_TAKE_START + i], &step)) {
            result->event_steps[result->n_events++] = step;
        }
    }
    result->total_count = counter.count;
    return 1;
}
