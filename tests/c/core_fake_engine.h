/* The stand-in engine of the portable core's host tests (core_fake_engine.c). */
#ifndef CORE_FAKE_ENGINE_H
#define CORE_FAKE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "rc_engine.h"

extern int8_t core_fake_last_input[RC_INPUT_LEN];
/* Outputs the engine returns, RC_OUTPUT_LEN per inference, and how many inferences' worth. */
extern const int8_t *core_fake_outputs;
extern size_t core_fake_outputs_left;
extern uint32_t core_fake_invocations;

#endif
