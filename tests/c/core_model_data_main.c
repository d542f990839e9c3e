/* Host check of the generated rc_model_data.c (tests/test_firmware.py): writes the model
 * array to stdout so the test compares it with the .tflite, and fails (exit 1) unless the
 * array is 16-byte aligned and its size constant agrees. */
#include <stdint.h>
#include <stdio.h>

#include "rc_config.h"
#include "rc_model_data.h"

int main(void)
{
    if (((uintptr_t)g_rc_model_data % 16u) != 0u) {
        fprintf(stderr, "g_rc_model_data is not 16-byte aligned\n");
        return 1;
    }
    if (g_rc_model_data_size != RC_MODEL_TFLITE_BYTES) {
        fprintf(stderr, "size constant %u != RC_MODEL_TFLITE_BYTES\n", g_rc_model_data_size);
        return 1;
    }
    return fwrite(g_rc_model_data, 1, g_rc_model_data_size, stdout) == g_rc_model_data_size ? 0 : 1;
}
