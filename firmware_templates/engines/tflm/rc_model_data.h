/* repcount, tflm engine: the .tflite the interpreter runs, as a C array (rc_model_data.c,
 * generated from the model file at render time). Its name and hash are in rc_config.h. */
#ifndef RC_MODEL_DATA_H
#define RC_MODEL_DATA_H

#ifdef __cplusplus
extern "C" {
#endif
/* The .tflite flatbuffer, 16-byte aligned as TFLite Micro requires. */
extern const unsigned char g_rc_model_data[];
extern const unsigned int g_rc_model_data_size;
#ifdef __cplusplus
}
#endif

#endif
