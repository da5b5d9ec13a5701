/* dsvl C API: the runtime of include/dsvl/dsvl.h for C and for other languages' FFIs.
 *
 * Conventions
 *  - Opaque handles: dsvl_model (loaded once, shared), dsvl_session (one conversation; use one
 *    thread at a time per session; different sessions may run on different threads at once).
 *  - Every function that can fail returns a dsvl_status (DSVL_OK = 0). The message of the last
 *    failure on the calling thread is dsvl_last_error() (valid until the thread's next call).
 *  - Parameter structs have defaults: call the matching *_init function, then set fields. A field
 *    added in a later version is appended, and the struct's `struct_size` (set by *_init) tells the
 *    library which fields the caller knows.
 *  - Strings are UTF-8 and NUL-terminated; what the library returns is owned by the object it came
 *    from (a dsvl_result) or must be released with dsvl_string_free.
 *  - Nothing here aborts the process on bad input: errors come back as a status.
 */
#ifndef DSVL_DSVL_C_H_
#define DSVL_DSVL_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dsvl_status {
  DSVL_OK = 0,
  DSVL_ERR_INVALID_ARGUMENT = 1, /* a parameter or request field is unusable */
  DSVL_ERR_NOT_FOUND = 2,        /* file, tensor or token absent */
  DSVL_ERR_CORRUPT_DATA = 3,     /* a file exists but is malformed */
  DSVL_ERR_UNSUPPORTED = 4,      /* well-formed but outside what dsvl implements */
  DSVL_ERR_LIMIT_EXCEEDED = 5,   /* a configured size limit was hit */
  DSVL_ERR_IO = 6,               /* the OS refused (open, mmap, read) */
  DSVL_ERR_OUT_OF_MEMORY = 7,
  DSVL_ERR_INTERNAL = 8
} dsvl_status;

typedef struct dsvl_model dsvl_model;
typedef struct dsvl_session dsvl_session;
typedef struct dsvl_result dsvl_result;

/* "0.1.0" */
const char* dsvl_version(void);
/* Message of the calling thread's last failure ("" if none). */
const char* dsvl_last_error(void);
/* "ok", "invalid_argument", ... */
const char* dsvl_status_name(dsvl_status status);
void dsvl_string_free(char* s);

/* ---- Model ---------------------------------------------------------------------------- */

typedef struct dsvl_model_params {
  size_t struct_size;
  const char* dir;     /* checkpoint directory (required) */
  int threads;         /* <= 0: one per hardware thread */
  int64_t max_context; /* KV-cache tokens per session; 0: min(model positions, 4096) */
  const char* quant;   /* NULL or "": keep the checkpoint's types; "q8_0", "q4_0", "q4_k" */
  const char* kv_type; /* NULL or "auto", "f32", "bf16", "f16" */
  const char* precision; /* NULL or "auto", "f32", "bf16" */
} dsvl_model_params;

void dsvl_model_params_init(dsvl_model_params* params);
dsvl_status dsvl_model_load(const dsvl_model_params* params, dsvl_model** out);
/* Frees the handle; the model itself lives until its last session is freed too. */
void dsvl_model_free(dsvl_model* model);

typedef struct dsvl_model_info {
  int family; /* 1: DeepSeek-VL, 2: DeepSeek-VL2 */
  int64_t vocab_size;
  int64_t hidden_size;
  int64_t num_layers;
  int64_t max_context;
  int64_t bos_id;
  int64_t eos_id;
  int threads;
} dsvl_model_info;
dsvl_status dsvl_model_get_info(const dsvl_model* model, dsvl_model_info* out);

/* Token ids of `text` (with the model's special tokens when add_special != 0). Writes at most
 * `capacity` ids to `ids` (may be NULL when capacity is 0) and the full count to *n_ids; a
 * capacity too small gives DSVL_ERR_LIMIT_EXCEEDED with *n_ids set, so a caller can retry. */
dsvl_status dsvl_tokenize(const dsvl_model* model, const char* text, int add_special, int64_t* ids,
                          size_t capacity, size_t* n_ids);
/* Text of the ids; *text is released with dsvl_string_free. */
dsvl_status dsvl_detokenize(const dsvl_model* model, const int64_t* ids, size_t n_ids, char** text);

/* ---- Session and generation ----------------------------------------------------------- */

dsvl_status dsvl_session_create(dsvl_model* model, dsvl_session** out);
void dsvl_session_free(dsvl_session* session);
/* Forgets the conversation and its cache. */
void dsvl_session_reset(dsvl_session* session);

/* An image: a file path, or the encoded file bytes (JPEG, PNG, WebP, GIF, BMP) when bytes != NULL. */
typedef struct dsvl_image {
  const char* path;
  const uint8_t* bytes;
  size_t n_bytes;
} dsvl_image;

typedef struct dsvl_message {
  const char* role; /* "system", "user", "assistant" */
  const char* text; /* may hold image tags; images without a tag go before the text */
  const dsvl_image* images;
  size_t n_images;
} dsvl_message;

typedef struct dsvl_generate_params {
  size_t struct_size;
  float temperature; /* <= 0: greedy (default 0) */
  float top_p;       /* default 1 */
  int64_t top_k;     /* 0: off */
  float min_p;       /* 0: off */
  float repetition_penalty; /* 1: off */
  uint64_t seed;
  int64_t max_new_tokens;  /* default 512 */
  int ignore_eos;          /* nonzero: generate exactly max_new_tokens */
  const char* const* stop; /* extra stop strings */
  size_t n_stop;
  const char* system;      /* NULL: the family's default system prompt */
} dsvl_generate_params;

void dsvl_generate_params_init(dsvl_generate_params* params);

/* Streaming: called on the generating thread for every token with the newly completed text
 * (`piece`, `len` bytes, not NUL-terminated; may be empty). Return nonzero to go on, 0 to stop. */
typedef int (*dsvl_token_callback)(int64_t id, const char* piece, size_t len, void* user_data);

/* Appends `messages` to the session's conversation and generates the answer (appended too). On
 * success *out holds the result (free it with dsvl_result_free); on failure the conversation is
 * unchanged and *out is NULL. `callback` may be NULL. */
dsvl_status dsvl_session_generate(dsvl_session* session, const dsvl_message* messages, size_t n_messages,
                                  const dsvl_generate_params* params, dsvl_token_callback callback,
                                  void* user_data, dsvl_result** out);

typedef enum dsvl_finish_reason {
  DSVL_FINISH_STOP = 0,
  DSVL_FINISH_LENGTH = 1,
  DSVL_FINISH_CANCELLED = 2
} dsvl_finish_reason;

const char* dsvl_result_text(const dsvl_result* result);
size_t dsvl_result_n_tokens(const dsvl_result* result);
const int64_t* dsvl_result_tokens(const dsvl_result* result);
int64_t dsvl_result_prompt_tokens(const dsvl_result* result);
int64_t dsvl_result_cached_tokens(const dsvl_result* result);
dsvl_finish_reason dsvl_result_finish_reason(const dsvl_result* result);
double dsvl_result_decode_tok_s(const dsvl_result* result);
void dsvl_result_free(dsvl_result* result);

#ifdef __cplusplus
}
#endif

#endif /* DSVL_DSVL_C_H_ */
