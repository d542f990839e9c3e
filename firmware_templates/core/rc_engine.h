/* repcount portable core: the engine interface. `tflm` implements it with TFLite Micro's
 * MicroInterpreter, `native` with C generated from the model. The model's input and
 * output lengths (RC_INPUT_LEN, RC_OUTPUT_LEN) and RC_ENGINE_NAME come from the
 * generated rc_config.h; each engine checks that its model has exactly these lengths. */
#ifndef RC_ENGINE_H
#define RC_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "rc_config.h"

/* 0 on success; negative on failure, rc_engine_error_message() says why. */
int rc_engine_init(void);
/* Run one inference: RC_INPUT_LEN int8 in (time-major, 3 channels interleaved),
 * RC_OUTPUT_LEN int8 out. 0 on success. */
int rc_engine_invoke(const int8_t *input, int8_t *output);
/* Bytes of the tensor arena in use (after init). */
size_t rc_engine_arena_used(void);
const char *rc_engine_error_message(void);

#endif
