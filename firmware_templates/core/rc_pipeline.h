/* repcount portable core: the counting pipeline.
 *
 * One raw IMU sample (int16 counts at the model's full-scale range, already remapped
 * for the mount) goes in at the model's sample rate. Every `RC_HOP` samples, once
 * `RC_WINDOW` samples are buffered, the window is quantised to int8 with one integer
 * rescale, the engine runs, and the counting post-processor consumes the slice of the
 * output that tiles time. The app (rc_app.c) reports what happened over the protocol.
 *
 * Samples read from the board's IMU go through rc_imu_sample() first: it applies the
 * mount's axis remap and resamples from the IMU's output data rate to the model's rate.
 * Replayed samples are already at the model's rate and go straight to rc_pipeline_push().
 *
 * The model's geometry, quantisation and counting parameters and the board's IMU rate,
 * range and axis remap are the RC_* macros of the generated rc_config.h.
 */
#ifndef RC_PIPELINE_H
#define RC_PIPELINE_H

#include <stdint.h>

#include "rc_config.h"
#include "rc_requant.h"

#define RC_CHANNELS 3
#define RC_MAX_EVENTS_PER_INFERENCE RC_TAKE_COUNT
/* Most model-rate samples one IMU sample can produce (upsampling). */
#define RC_RESAMPLE_MAX_OUT ((RC_SAMPLE_RATE_HZ + RC_IMU_ODR_HZ - 1) / RC_IMU_ODR_HZ)

typedef struct {
    uint32_t inference;                 /* index of the inference that just ran */
    const int8_t *output;               /* its RC_OUTPUT_LEN int8 outputs */
    uint8_t n_events;                   /* events decided during this inference */
    uint32_t event_steps[RC_MAX_EVENTS_PER_INFERENCE]; /* their global step indices */
    uint32_t total_count;               /* events since rc_pipeline_reset */
} rc_inference_result_t;

/* Initialise the engine; returns 0, or a negative code (rc_engine_error_message). */
int rc_pipeline_init(void);
/* Forget all samples, outputs and counts (start of a replay or run). */
void rc_pipeline_reset(void);
/* Push one sample; returns 1 and fills *result when an inference ran, 0 otherwise,
 * negative on an engine failure. */
int rc_pipeline_push(const int16_t xyz[RC_CHANNELS], rc_inference_result_t *result);

/* One sample read from the IMU (board axes, int16 counts at the IMU's range
 * RC_IMU_FULL_SCALE_G, every 1/RC_IMU_ODR_HZ s): remaps it to the model's axes, rescales
 * it to counts at RC_FULL_SCALE_G, resamples to RC_SAMPLE_RATE_HZ, writes the
 * 0..RC_RESAMPLE_MAX_OUT model-rate samples it completes to `out` and returns how many.
 * rc_pipeline_reset() restarts the resampler. */
int rc_imu_sample(const int16_t board_xyz[RC_CHANNELS],
                  int16_t out[RC_RESAMPLE_MAX_OUT][RC_CHANNELS]);

/* ---- The pieces, exposed for the board glue and the unit tests. ---- */

/* Model axes from board axes for the mount the firmware was generated for. */
void rc_remap(const int16_t board_xyz[RC_CHANNELS], int16_t model_xyz[RC_CHANNELS]);
/* Counts at RC_IMU_FULL_SCALE_G to counts at RC_FULL_SCALE_G (rounded, saturated). */
int16_t rc_rescale_counts(int16_t imu_counts);

/* Linear-interpolation resampler from in_hz to out_hz in integers: output n sits at time
 * n / out_hz, input i at i / in_hz; each output is emitted once the input after it has
 * arrived (one input sample of latency), rounded half away from zero. */
typedef struct {
    uint32_t in_hz;
    uint32_t out_hz;
    uint32_t t;          /* next output's offset after `prev`, in 1/(in_hz*out_hz) s */
    int16_t prev[RC_CHANNELS];
    uint8_t primed;      /* `prev` holds a sample */
} rc_resampler_t;

void rc_resampler_init(rc_resampler_t *r, uint32_t in_hz, uint32_t out_hz);
/* Returns how many samples were written to out (never more than capacity, which must be
 * at least ceil(out_hz / in_hz)). */
int rc_resampler_push(rc_resampler_t *r, const int16_t in[RC_CHANNELS],
                      int16_t out[][RC_CHANNELS], int capacity);

/* The input quantisation, by TFLM's MultiplyByQuantizedMultiplier (rc_requant.h). */
int8_t rc_quantize_input(int16_t raw);

/* Streaming peak picker over the int8 score stream (the twin of counting.Counter). */
typedef struct {
    int32_t threshold;
    uint32_t refractory;
    uint32_t step;       /* index of the next score to arrive */
    int32_t prev1;       /* score at step - 1 */
    int32_t prev2;       /* score at step - 2 */
    uint32_t last_event;
    uint8_t any_event;
    uint32_t count;
} rc_counter_t;

void rc_counter_init(rc_counter_t *c, int32_t threshold, uint32_t refractory);
/* Feed the next score; returns 1 and sets *event_step when an event is decided now. */
int rc_counter_push(rc_counter_t *c, int8_t score, uint32_t *event_step);

#endif
