/* heapdig — MIT licence.
 *
 * heap.c: the heap model's own operations: freeing it, its strings, and
 * an edge label's SQL text (FORMAT.md §6).
 */
#include "heap/heap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
hd_heap__free(hd_heap *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; h->meta && i < 2 * h->n_meta; i++)
        free(h->meta[i]);
    free(h->meta);
    free(h->memory);
    free(h->str_data);
    free(h->str_off);
    free(h->type_addr);
    free(h->type_name);
    free(h->type_module);
    free(h->addr);
    free(h->type);
    free(h->size);
    free(h->refcount);
    free(h->flags);
    free(h->length);
    free(h->value_off);
    free(h->value_n);
    free(h->traceback);
    free(h->edge_start);
    free(h->edge_dst);
    free(h->edge_payload);
    free(h->edge_word);
    free(h->root_obj);
    free(h->root_kind);
    free(h->root_name);
    free(h->tb_start);
    free(h->tb_frames);
    free(h->val_data);
    free(h);
}

const char *
hd_heap__str(const hd_heap *h, uint32_t id, size_t *len)
{
    if (id == 0 || id > h->n_strings) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = (size_t)(h->str_off[id + 1] - h->str_off[id] - 1);
    return h->str_data + h->str_off[id];
}

/* Python-like quoting of a str key: 'ab\'c', escaped by the one rule for
 * heap text (text.c). */
static size_t
quote(char *out, size_t cap, const char *s, size_t n)
{
    char esc[1024];
    size_t k = 0, room = (cap - 4) / 2; /* fits even if every char is ' */
    if (cap < 8)
        return 0;
    hd_text_escape(esc, room < sizeof(esc) ? room : sizeof(esc), s, n,
                   HD_TEXT_PLAIN, 0);
    out[k++] = '\'';
    for (const char *p = esc; *p; p++) {
        if (*p == '\'')
            out[k++] = '\\';
        out[k++] = *p;
    }
    out[k++] = '\'';
    out[k] = 0;
    return k;
}

/* Whether a key_other label is an older dump's bare type name (a dotted
 * identifier other than None, True, False) rather than a key's repr. */
static int
key_is_type_name(const char *s, size_t n)
{
    if (n == 0 || (n == 4 && !memcmp(s, "None", 4)) ||
        (n == 4 && !memcmp(s, "True", 4)) || (n == 5 && !memcmp(s, "False", 5)))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '_' || c == '.' || c >= 0x80 || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

const char *
hd_heap__label(const hd_heap *h, uint8_t word, uint64_t payload, char *buf,
               size_t cap)
{
    size_t n, k;
    const char *s;
    switch (word >> 1) {
    case HD_LBL_ATTR:
        s = hd_heap__str(h, (uint32_t)payload, &n);
        buf[0] = '.';
        hd_text_escape(buf + 1, cap - 1, s, n, HD_TEXT_PLAIN, 0);
        return buf;
    case HD_LBL_KEY_STR:
    case HD_LBL_LOCAL:
        s = hd_heap__str(h, (uint32_t)payload, &n);
        k = (word >> 1) == HD_LBL_LOCAL ? (size_t)snprintf(buf, cap,
                                                            ".f_locals[")
                                         : (size_t)snprintf(buf, cap, "[");
        k += quote(buf + k, cap - k - 2, s, n);
        snprintf(buf + k, cap - k, "]");
        return buf;
    case HD_LBL_KEY_INT:
        snprintf(buf, cap, "[%" PRId64 "]", hd_unzigzag(payload));
        return buf;
    case HD_LBL_KEY_OTHER:
        /* 1.2 writers give the key as repr() writes it, or "<type>"; 1.0
         * and 1.1 ones gave the bare type name. */
        s = hd_heap__str(h, (uint32_t)payload, &n);
        k = 0;
        buf[k++] = '[';
        if (key_is_type_name(s, n))
            buf[k++] = '<';
        k += hd_text_escape(buf + k, cap - k - 3, s, n, HD_TEXT_RENDERED, 0);
        if (key_is_type_name(s, n))
            buf[k++] = '>';
        snprintf(buf + k, cap - k, "]");
        return buf;
    case HD_LBL_KEY_OBJ:
        return "<key>";
    case HD_LBL_INDEX:
        snprintf(buf, cap, "[%" PRIu64 "]", payload);
        return buf;
    default:
        return NULL;
    }
}

uint8_t *
hd_heap__strings_named(const hd_heap *h, const char *text)
{
    uint8_t *named = calloc((size_t)h->n_strings + 1, 1);
    for (uint32_t i = 1; named && i <= h->n_strings; i++)
        named[i] = !strcmp(hd_heap__str(h, i, NULL), text);
    return named;
}
