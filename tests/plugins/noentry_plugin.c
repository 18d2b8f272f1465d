/* A shared object without the backend entry point, for the loader tests. */
int p2plab_not_a_backend(void);
__attribute__((visibility("default"))) int p2plab_not_a_backend(void) {
  return 0;
}
