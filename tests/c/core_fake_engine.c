/* A stand-in engine for the portable core's host tests: it implements rc_engine.h, hands
 * back the outputs the test driver queued, and keeps the last input so the driver can
 * print exactly what the pipeline fed the model. */
#include "core_fake_engine.h"

#include <string.h>

#include "rc_engine.h"
#include "rc_pipeline.h"

int8_t core_fake_last_input[RC_INPUT_LEN];
const int8_t *core_fake_outputs;
size_t core_fake_outputs_left;
uint32_t core_fake_invocations;

int rc_engine_init(void)
{
    return 0;
}

int rc_engine_invoke(const int8_t *input, int8_t *output)
{
    memcpy(core_fake_last_input, input, RC_INPUT_LEN);
    core_fake_invocations++;
    if (core_fake_outputs_left == 0u) {
        return -7; /* the driver queued too few outputs */
    }
    memcpy(output, core_fake_outputs, RC_OUTPUT_LEN);
    core_fake_outputs += RC_OUTPUT_LEN;
    core_fake_outputs_left--;
    return 0;
}

size_t rc_engine_arena_used(void)
{
    return 0u;
}

const char *rc_engine_error_message(void)
{
    return core_fake_outputs_left == 0u ? "fake engine: no outputs queued" : "";
}
