/* heapdig — MIT licence.
 *
 * error.c: the last error of each thread (hd_error_last) and hd_strerror.
 * Setting an error never allocates, so reporting out-of-memory cannot fail.
 */
#include "base/base.h"

#include <stdarg.h>

#include <stdio.h>
#include <string.h>

static _Thread_local hd_error last_error;

const hd_error *
hd_error_last(void)
{
    return &last_error;
}

void
hd_error_clear(void)
{
    last_error.code = 0;
    last_error.offset = 0;
    last_error.message[0] = 0;
}

static int
set_v(int code, uint64_t offset, const char *fmt, va_list ap)
{
    last_error.code = code;
    last_error.offset = offset;
    vsnprintf(last_error.message, sizeof(last_error.message), fmt, ap);
    return code;
}

int
hd_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_v(code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int
hd_error_set_offset(int code, uint64_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_v(code, offset, fmt, ap);
    va_end(ap);
    return code;
}

const char *
hd_strerror(int code)
{
    switch (code) {
    case HD_OK: return "success";
    case HD_ENOMEM: return "out of memory";
    case HD_EIO: return "I/O error";
    case HD_ECORRUPT: return "corrupt dump";
    case HD_ETRUNCATED: return "truncated dump";
    case HD_EVERSION: return "unsupported dump version";
    case HD_ESQL: return "SQLite error";
    case HD_EGRAPH: return "Graphviz error";
    case HD_EINVAL: return "invalid argument";
    case HD_ECALLBACK: return "cancelled";
    default: return "unknown error";
    }
}
