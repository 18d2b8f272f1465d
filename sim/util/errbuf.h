/*
 * sim/util/errbuf.h - writing a message into a caller's error buffer.
 */
#ifndef SIM_ERRBUF_H
#define SIM_ERRBUF_H

#include <stddef.h>

/* Formats a message into err (always NUL-terminated, truncated to errlen).
 * err may be NULL or errlen 0: then nothing is written. */
void sim_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* SIM_ERRBUF_H */
