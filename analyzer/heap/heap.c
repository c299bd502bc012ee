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

/* ---- hd_col ------------------------------------------------------------------- */

/* The first place in the wide list whose index is i or more. */
static uint64_t
wide_find(const hd_col *c, uint64_t i)
{
    uint64_t lo = 0, hi = c->n_wide;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (c->wide_at[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t
hd_col__wide(const hd_col *c, uint64_t i)
{
    uint64_t k = wide_find(c, i);
    /* v[i] is HD_WIDE itself when the list does not hold i */
    return k < c->n_wide && c->wide_at[k] == i ? c->wide_val[k] : HD_WIDE;
}

int
hd_col__set_wide(hd_col *c, uint64_t i, uint64_t x)
{
    uint64_t k = c->n_wide == 0 || c->wide_at[c->n_wide - 1] < i
                     ? c->n_wide /* an append */
                     : wide_find(c, i);
    int held = k < c->n_wide && c->wide_at[k] == i;
    if (x < HD_WIDE) {
        if (held) {
            memmove(c->wide_at + k, c->wide_at + k + 1,
                    (size_t)(c->n_wide - k - 1) * sizeof(uint64_t));
            memmove(c->wide_val + k, c->wide_val + k + 1,
                    (size_t)(c->n_wide - k - 1) * sizeof(uint64_t));
            c->n_wide--;
        }
        c->v[i] = (uint32_t)x;
        return 0;
    }
    if (!held) {
        if (c->n_wide == c->cap_wide) {
            size_t cap = (size_t)c->cap_wide;
            size_t cap2 = cap;
            if (hd_grow(&c->wide_at, &cap, (size_t)c->n_wide + 1,
                        sizeof(uint64_t)) < 0 ||
                hd_grow(&c->wide_val, &cap2, (size_t)c->n_wide + 1,
                        sizeof(uint64_t)) < 0)
                return hd_error_set(HD_ENOMEM, "out of memory (wide numbers)");
            c->cap_wide = cap < cap2 ? cap : cap2;
        }
        memmove(c->wide_at + k + 1, c->wide_at + k,
                (size_t)(c->n_wide - k) * sizeof(uint64_t));
        memmove(c->wide_val + k + 1, c->wide_val + k,
                (size_t)(c->n_wide - k) * sizeof(uint64_t));
        c->wide_at[k] = i;
        c->n_wide++;
    }
    c->wide_val[k] = x;
    c->v[i] = HD_WIDE;
    return 0;
}

static int
update_order(const void *a, const void *b)
{
    const hd_col_update *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

int
hd_col_set_many(hd_col *c, hd_col_update *u, size_t n)
{
    size_t cap = (size_t)c->n_wide + n, i = 0, j = 0, k = 0;
    if (n == 0)
        return 0;
    qsort(u, n, sizeof(*u), update_order);
    uint64_t *at = malloc((cap ? cap : 1) * sizeof(uint64_t));
    uint64_t *val = malloc((cap ? cap : 1) * sizeof(uint64_t));
    if (at == NULL || val == NULL) {
        free(at);
        free(val);
        return hd_error_set(HD_ENOMEM, "out of memory (wide numbers)");
    }
    /* one merge of the wide list with the updates, by index */
    while (i < c->n_wide || j < n) {
        if (j < n && (i >= c->n_wide || u[j].at <= c->wide_at[i])) {
            while (j + 1 < n && u[j + 1].at == u[j].at)
                j++; /* the last for this index */
            uint64_t x = u[j].at;
            if (i < c->n_wide && c->wide_at[i] == x)
                i++; /* replaced */
            if (u[j].val >= HD_WIDE) {
                at[k] = x;
                val[k++] = u[j].val;
                c->v[x] = HD_WIDE;
            } else {
                c->v[x] = (uint32_t)u[j].val;
            }
            j++;
        } else {
            at[k] = c->wide_at[i];
            val[k++] = c->wide_val[i++];
        }
    }
    free(c->wide_at);
    free(c->wide_val);
    c->wide_at = at;
    c->wide_val = val;
    c->n_wide = k;
    c->cap_wide = cap ? cap : 1;
    return 0;
}

void
hd_col_move(hd_col *c, uint64_t from, uint64_t to, uint64_t *cursor,
            uint64_t *kept)
{
    uint32_t v = c->v[from];
    c->v[to] = v;
    if (v != HD_WIDE)
        return;
    while (*cursor < c->n_wide && c->wide_at[*cursor] < from)
        (*cursor)++; /* wide ones of indices not kept */
    if (*cursor < c->n_wide && c->wide_at[*cursor] == from) {
        c->wide_at[*kept] = to;
        c->wide_val[*kept] = c->wide_val[*cursor];
        (*kept)++;
        (*cursor)++;
    }
}

void
hd_col_compacted(hd_col *c, uint64_t kept)
{
    c->n_wide = kept;
}

void
hd_col_free(hd_col *c)
{
    free(c->v);
    free(c->wide_at);
    free(c->wide_val);
    memset(c, 0, sizeof(*c));
}

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
    hd_col_free(&h->size);
    hd_col_free(&h->refcount);
    free(h->flags);
    hd_col_free(&h->length);
    free(h->value_off);
    free(h->value_n);
    free(h->traceback);
    free(h->edge_start);
    free(h->edge_dst);
    hd_col_free(&h->edge_payload);
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
