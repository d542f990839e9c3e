/* A stand-in engine for the protocol tests (rc_engine.h), until firmware.py renders the
 * native engine for host-linux: output j copies input j * RC_INPUT_LEN / RC_OUTPUT_LEN, so
 * a test can predict every OUTPUT value from the samples it replayed (through the real
 * pipeline's input quantisation). Built with -DRC_STUB_ENGINE_FAIL it fails to initialise
 * the way an undersized TFLM arena does, to test the ERROR report; with
 * -DRC_STUB_ENGINE_SLOW_MS=N every invoke busy-waits N ms of CPU time (an engine slower than
 * the IMU), to test that the samples it makes the device miss are counted. */
#include "rc_engine.h"
#include "rc_pipeline.h"

#ifdef RC_STUB_ENGINE_SLOW_MS
#include <time.h>
#endif

#ifdef RC_STUB_ENGINE_FAIL
int rc_engine_init(void)
{
    return -3;
}

const char *rc_engine_error_message(void)
{
    return "AllocateTensors failed: arena 1024 bytes, model needs 20480";
}
#else
int rc_engine_init(void)
{
    return 0;
}

const char *rc_engine_error_message(void)
{
    return "";
}
#endif

int rc_engine_invoke(const int8_t *input, int8_t *output)
{
    int j;
#ifdef RC_STUB_ENGINE_SLOW_MS
    clock_t start = clock();
    while ((double)(clock() - start) * 1000.0 / CLOCKS_PER_SEC < RC_STUB_ENGINE_SLOW_MS) {
    }
#endif
    for (j = 0; j < RC_OUTPUT_LEN; j++) {
        output[j] = input[(long)j * RC_INPUT_LEN / RC_OUTPUT_LEN];
    }
    return 0;
}

size_t rc_engine_arena_used(void)
{
    return 0;
}
