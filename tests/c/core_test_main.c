/* Host test driver of the portable core (rc_pipeline.c), run by tests/test_core_c.py.
 *
 * Usage: core_test MODE, numbers on stdin, results on stdout, one item per line:
 *   pipeline   stdin: n_samples n_inferences, then n_inferences * RC_OUTPUT_LEN scores
 *              the fake engine returns, then n_samples * 3 raw samples. Prints, per
 *              inference, "I k" and the RC_INPUT_LEN int8 inputs the engine received,
 *              then "E step total" per event, and "T total" at the end.
 *   counter    stdin: threshold refractory n, then n scores. Prints "E step" per event.
 *   resample   stdin: in_hz out_hz n, then n * 3 samples. Prints "S x y z" per output.
 *   imu        stdin: n, then n * 3 board samples through rc_imu_sample. Prints "S x y z".
 *   quantize   stdin: n, then n raw values. Prints rc_quantize_input of each.
 *   mbqm       stdin: n, then n triples x multiplier shift. Prints rc_mbqm of each.
 *   remap      stdin: n, then n * 3 board samples. Prints "S x y z" in model axes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_fake_engine.h"
#include "rc_pipeline.h"

static long next_number(void)
{
    long v;
    if (scanf("%ld", &v) != 1) {
        fprintf(stderr, "core_test: expected a number on stdin\n");
        exit(2);
    }
    return v;
}

static void read_triple(int16_t xyz[RC_CHANNELS])
{
    int ch;
    for (ch = 0; ch < RC_CHANNELS; ch++) {
        xyz[ch] = (int16_t)next_number();
    }
}

static int run_pipeline(void)
{
    long n_samples = next_number();
    long n_inferences = next_number();
    long i;
    int8_t *outputs = malloc((size_t)(n_inferences > 0 ? n_inferences : 1) * RC_OUTPUT_LEN);
    rc_inference_result_t result;
    uint32_t total = 0u;
    if (outputs == NULL) {
        return 3;
    }
    for (i = 0; i < n_inferences * RC_OUTPUT_LEN; i++) {
        outputs[i] = (int8_t)next_number();
    }
    core_fake_outputs = outputs;
    core_fake_outputs_left = (size_t)n_inferences;
    if (rc_pipeline_init() != 0) {
        return 4;
    }
    for (i = 0; i < n_samples; i++) {
        int16_t xyz[RC_CHANNELS];
        int status;
        read_triple(xyz);
        status = rc_pipeline_push(xyz, &result);
        if (status < 0) {
            printf("X %d %s\n", status, rc_engine_error_message());
            free(outputs);
            return 0;
        }
        if (status == 1) {
            int j;
            printf("I %lu", (unsigned long)result.inference);
            for (j = 0; j < RC_INPUT_LEN; j++) {
                printf(" %d", core_fake_last_input[j]);
            }
            printf("\n");
            for (j = 0; j < result.n_events; j++) {
                total++;
                printf("E %lu %lu\n", (unsigned long)result.event_steps[j], (unsigned long)total);
            }
            if (result.total_count != total) {
                printf("X total_count %lu != %lu\n", (unsigned long)result.total_count,
                       (unsigned long)total);
            }
        }
    }
    printf("T %lu\n", (unsigned long)total);
    free(outputs);
    return 0;
}

static int run_counter(void)
{
    rc_counter_t counter;
    long threshold = next_number();
    long refractory = next_number();
    long n = next_number();
    long i;
    rc_counter_init(&counter, (int32_t)threshold, (uint32_t)refractory);
    for (i = 0; i < n; i++) {
        uint32_t step;
        if (rc_counter_push(&counter, (int8_t)next_number(), &step)) {
            printf("E %lu\n", (unsigned long)step);
        }
    }
    return 0;
}

static void print_samples(int16_t out[][RC_CHANNELS], int n)
{
    int k;
    for (k = 0; k < n; k++) {
        printf("S %d %d %d\n", out[k][0], out[k][1], out[k][2]);
    }
}

static int run_resample(void)
{
    rc_resampler_t r;
    long in_hz = next_number();
    long out_hz = next_number();
    long n = next_number();
    long i;
    int capacity = (int)((out_hz + in_hz - 1) / in_hz);
    int16_t (*out)[RC_CHANNELS] = malloc((size_t)capacity * sizeof *out);
    if (out == NULL) {
        return 3;
    }
    rc_resampler_init(&r, (uint32_t)in_hz, (uint32_t)out_hz);
    for (i = 0; i < n; i++) {
        int16_t xyz[RC_CHANNELS];
        read_triple(xyz);
        print_samples(out, rc_resampler_push(&r, xyz, out, capacity));
    }
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    long n;
    long i;
    if (strcmp(mode, "pipeline") == 0) {
        return run_pipeline();
    }
    if (strcmp(mode, "counter") == 0) {
        return run_counter();
    }
    if (strcmp(mode, "resample") == 0) {
        return run_resample();
    }
    n = next_number();
    for (i = 0; i < n; i++) {
        if (strcmp(mode, "quantize") == 0) {
            printf("%d\n", rc_quantize_input((int16_t)next_number()));
        } else if (strcmp(mode, "mbqm") == 0) {
            long x = next_number();
            long m = next_number();
            long s = next_number();
            printf("%ld\n", (long)rc_mbqm((int32_t)x, (int32_t)m, (int)s));
        } else if (strcmp(mode, "remap") == 0) {
            int16_t board_xyz[RC_CHANNELS];
            int16_t model_xyz[1][RC_CHANNELS];
            read_triple(board_xyz);
            rc_remap(board_xyz, model_xyz[0]);
            print_samples(model_xyz, 1);
        } else if (strcmp(mode, "imu") == 0) {
            int16_t board_xyz[RC_CHANNELS];
            int16_t out[RC_RESAMPLE_MAX_OUT][RC_CHANNELS];
            read_triple(board_xyz);
            print_samples(out, rc_imu_sample(board_xyz, out));
        } else {
            fprintf(stderr, "core_test: unknown mode '%s'\n", mode);
            return 2;
        }
    }
    return 0;
}
