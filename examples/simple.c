/* A minimal C program over libdsvl: load a checkpoint, ask one question (optionally about an
 * image), stream the answer to stdout.
 *
 *   simple MODEL_DIR "Describe the image." [IMAGE or ""] [MAX_NEW_TOKENS]
 *
 * Built by dsvl's own CMake build (bin/dsvl_example_c) and, as a stand-alone project against an
 * installed dsvl, by examples/CMakeLists.txt (find_package(dsvl)) or by pkg-config. */
#include <stdio.h>
#include <stdlib.h>

#include <dsvl/dsvl_c.h>

static int print_piece(int64_t id, const char* piece, size_t len, void* user_data) {
  (void)id;
  (void)user_data;
  fwrite(piece, 1, len, stdout);
  fflush(stdout);
  return 1; /* go on */
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL_DIR PROMPT [IMAGE] [MAX_NEW_TOKENS]\n", argv[0]);
    return 2;
  }
  dsvl_model_params mp;
  dsvl_model_params_init(&mp);
  mp.dir = argv[1];
  dsvl_model* model = NULL;
  if (dsvl_model_load(&mp, &model) != DSVL_OK) {
    fprintf(stderr, "load failed: %s\n", dsvl_last_error());
    return 1;
  }
  dsvl_session* session = NULL;
  if (dsvl_session_create(model, &session) != DSVL_OK) {
    fprintf(stderr, "session failed: %s\n", dsvl_last_error());
    dsvl_model_free(model);
    return 1;
  }
  const int has_image = argc > 3 && argv[3][0] != '\0'; /* "" = no image */
  dsvl_image image = {has_image ? argv[3] : NULL, NULL, 0};
  dsvl_message message = {"user", argv[2], &image, has_image ? 1u : 0u};
  dsvl_generate_params gp;
  dsvl_generate_params_init(&gp);
  if (argc > 4) gp.max_new_tokens = atoll(argv[4]);

  dsvl_result* result = NULL;
  const dsvl_status st = dsvl_session_generate(session, &message, 1, &gp, print_piece, NULL, &result);
  int rc = 0;
  if (st != DSVL_OK) {
    fprintf(stderr, "\ngenerate failed (%s): %s\n", dsvl_status_name(st), dsvl_last_error());
    rc = 1;
  } else {
    printf("\n[%zu tokens, prompt %lld, %.1f tok/s]\n", dsvl_result_n_tokens(result),
           (long long)dsvl_result_prompt_tokens(result), dsvl_result_decode_tok_s(result));
    dsvl_result_free(result);
  }
  dsvl_session_free(session);
  dsvl_model_free(model);
  return rc;
}
