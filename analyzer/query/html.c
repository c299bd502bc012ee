/* heapdig — MIT licence.
 *
 * html.c: a growing byte buffer, and text escaped for where it goes in an
 * HTML page.  Heap text is attacker-controlled (request bodies, headers):
 * every value, key, label and type name reaches the page through one of
 * these, never as it is.  Each first makes the text readable the way the
 * terminal output does (hd_text_escape: controls, bidi overrides and
 * invalid bytes as escapes), then escapes it for its context:
 *   hd_html_text:  element text and attribute values (& < > " ' as
 *                  entities);
 *   hd_json_str:   a JSON string inside <script type="application/json">
 *                  (< > & also as \u escapes, so neither "</script>" nor
 *                  "<!--" can end or change the script element).
 */
#include "query/query.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
hd_buf_put(hd_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void
hd_buf_puts(hd_buf *b, const char *s)
{
    hd_buf_put(b, s, strlen(s));
}

void
hd_buf_printf(hd_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    if ((size_t)k < sizeof(small)) {
        hd_buf_put(b, small, (size_t)k);
        return;
    }
    char *big = malloc((size_t)k + 1);
    if (big == NULL) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    hd_buf_put(b, big, (size_t)k);
    free(big);
}

void
hd_buf_free(hd_buf *b)
{
    free(b->p);
    *b = (hd_buf){0};
}

/* The text made readable (see the top); mode is HD_TEXT_PLAIN for heap
 * text, HD_TEXT_RENDERED for labels heapdig already escaped. */
static size_t
readable(char *out, size_t cap, const char *s, size_t n, int mode,
         size_t max_chars)
{
    return hd_text_escape(out, cap, s ? s : "", s ? n : 0, mode, max_chars);
}

void
hd_html_text(hd_buf *b, const char *s, size_t n, int mode, size_t max_chars)
{
    char tmp[4096];
    size_t k = readable(tmp, sizeof(tmp), s, n, mode, max_chars);
    size_t run = 0;
    for (size_t i = 0; i < k; i++) {
        const char *ent = NULL;
        switch (tmp[i]) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: continue;
        }
        hd_buf_put(b, tmp + run, i - run);
        hd_buf_puts(b, ent);
        run = i + 1;
    }
    hd_buf_put(b, tmp + run, k - run);
}

void
hd_json_str(hd_buf *b, const char *s, size_t n, int mode, size_t max_chars)
{
    char tmp[4096];
    if (s == NULL) {
        hd_buf_puts(b, "null");
        return;
    }
    size_t k = hd_text_escape(tmp, sizeof(tmp), s, n, mode | HD_TEXT_JSON,
                              max_chars);
    size_t run = 0;
    hd_buf_puts(b, "\"");
    for (size_t i = 0; i < k; i++) {
        const char *esc = NULL;
        switch (tmp[i]) {
        case '<': esc = "\\u003c"; break;
        case '>': esc = "\\u003e"; break;
        case '&': esc = "\\u0026"; break;
        default: continue;
        }
        hd_buf_put(b, tmp + run, i - run);
        hd_buf_puts(b, esc);
        run = i + 1;
    }
    hd_buf_put(b, tmp + run, k - run);
    hd_buf_puts(b, "\"");
}
