/* heapdig — MIT licence.
 *
 * text.c: the one rule for putting heap text (values, keys, labels, type
 * names: attacker-controlled, as request bodies and headers are) in front
 * of a terminal, into a table, a CSV file, a picture or a JSON document.
 *
 * Input is decoded as strict UTF-8: overlong forms, surrogates, code points
 * past U+10FFFF and bytes that cannot start a character are invalid.  What
 * may not reach a reader as itself is escaped the way Python writes it in a
 * str's repr, so that the text stays one line, shows what is there and
 * cannot act: C0 controls and DEL (\n \t \r \x1b \x00 ...), C1 controls
 * (\x9b, the one-byte CSI), bidirectional overrides and isolates that would
 * reorder the line (\u202e ...), and the noncharacters U+FFFE/U+FFFF and
 * U+FDD0-U+FDEF that XML parsers reject.  A backslash becomes \\ so that
 * escapes are unambiguous.  An invalid byte becomes \xNN (HD_TEXT_PLAIN) or
 * U+FFFD (HD_TEXT_JSON, whose output must be valid UTF-8).  JSON mode writes
 * a JSON string body instead: the same characters as \uXXXX, plus \" .
 * HD_TEXT_RENDERED is for text heapdig already wrote this way (labels):
 * its backslashes are escapes already and stay single; the rest of the
 * rule still applies, since a database is input too.
 */
#include "base/base.h"
#include "heapdig/format.h"

#include <stdio.h>
#include <string.h>

/* Decodes one code point from p[0..n); returns its length, or 0 if the
 * bytes there are not valid UTF-8. */
static size_t
utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    uint32_t c = p[0], min;
    size_t len;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, c &= 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, c &= 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, c &= 0x07, min = 0x10000;
    else
        return 0; /* continuation byte, C0/C1 overlong lead, F5-FF */
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Code points that must not reach a reader as themselves. */
static int
must_escape(uint32_t c)
{
    return c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) ||
           c == 0x061C || c == 0x200E || c == 0x200F ||
           (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) ||
           (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

size_t
hd_text_escape(char *out, size_t cap, const char *s, size_t n, int mode,
               size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t k = 0, chars = 0, i = 0;
    char esc[16];
    if (cap == 0)
        return 0;
    while (i < n) {
        uint32_t c = 0;
        size_t len = utf8_decode(p + i, n - i, &c), e = 0;
        if (max_chars && chars == max_chars) {
            /* "…" says the text goes on */
            if (k + 3 < cap) {
                memcpy(out + k, "\xe2\x80\xa6", 3);
                k += 3;
            }
            break;
        }
        if (len == 0) {
            if (mode & HD_TEXT_JSON)
                e = (size_t)snprintf(esc, sizeof(esc), "\xef\xbf\xbd");
            else
                e = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
            len = 1;
        } else if (c == '\\' && !(mode & HD_TEXT_RENDERED)) {
            e = (size_t)snprintf(esc, sizeof(esc), "\\\\");
        } else if (c == '\\' && (mode & HD_TEXT_JSON)) {
            e = (size_t)snprintf(esc, sizeof(esc), "\\\\");
        } else if (c == '"' && (mode & HD_TEXT_JSON)) {
            e = (size_t)snprintf(esc, sizeof(esc), "\\\"");
        } else if (must_escape(c)) {
            if (c == '\n')
                e = (size_t)snprintf(esc, sizeof(esc), "\\n");
            else if (c == '\t')
                e = (size_t)snprintf(esc, sizeof(esc), "\\t");
            else if (c == '\r')
                e = (size_t)snprintf(esc, sizeof(esc), "\\r");
            else if ((mode & HD_TEXT_JSON) || c > 0xFF)
                e = (size_t)snprintf(esc, sizeof(esc), "\\u%04x",
                                     (unsigned)c);
            else
                e = (size_t)snprintf(esc, sizeof(esc), "\\x%02x",
                                     (unsigned)c);
        }
        const char *piece = e ? esc : (const char *)p + i;
        size_t plen = e ? e : len;
        if (k + plen + 4 > cap) { /* room for "…" and the NUL */
            if (k + 3 < cap) {
                memcpy(out + k, "\xe2\x80\xa6", 3);
                k += 3;
            }
            break;
        }
        memcpy(out + k, piece, plen);
        k += plen;
        i += len;
        chars++;
    }
    out[k] = 0;
    return k;
}

size_t
hd_value_text(char *out, size_t cap, const char *value, size_t n,
              int64_t flags, size_t max_chars)
{
    static const char ellipsis[] = "\xe2\x80\xa6"; /* … */
    size_t k;
    if (cap < 8) {
        if (cap)
            out[0] = 0;
        return 0;
    }
    if (!(flags & HD_DB_VALUE_STR)) /* the load wrote it as Python does */
        return hd_text_escape(out, cap, value, n, HD_TEXT_RENDERED, max_chars);
    /* repr's quotes: double ones around a ' when there is no " (a text
     * with both keeps ' and shows its own as they are: it stays readable) */
    char q = memchr(value, '\'', n) && !memchr(value, '"', n) ? '"' : '\'';
    out[0] = q;
    k = 1 + hd_text_escape(out + 1, cap - 5, value, n, HD_TEXT_PLAIN,
                           max_chars);
    /* a prefix the dumper cut: say so, unless the escape just did */
    if ((flags & HD_OBJ_VALUE_TRUNC) &&
        !(k >= 4 && memcmp(out + k - 3, ellipsis, 3) == 0) && k + 5 <= cap) {
        memcpy(out + k, ellipsis, 3);
        k += 3;
    }
    out[k++] = q;
    out[k] = 0;
    return k;
}

size_t
hd_text_width(const char *s)
{
    /* Counts code points, and two columns for the wide East Asian ranges
     * and emoji, as terminals show them (a table stays aligned). */
    const unsigned char *p = (const unsigned char *)s;
    size_t w = 0, n = strlen(s), i = 0;
    while (i < n) {
        uint32_t c = 0;
        size_t len = utf8_decode(p + i, n - i, &c);
        if (len == 0) {
            w++;
            i++;
            continue;
        }
        if ((c >= 0x0300 && c <= 0x036F) || c == 0x200B || c == 0x200D ||
            (c >= 0xFE00 && c <= 0xFE0F))
            ; /* combining marks, zero-width joiners, variation selectors */
        else if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
                 (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
                 (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
                 (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
                 (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD))
            w += 2;
        else
            w++;
        i += len;
    }
    return w;
}

const char *
hd_bytes_str(char *buf, size_t cap, double b)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%.0f B", b);
    else
        snprintf(buf, cap, "%.1f %s", b, units[u]);
    return buf;
}

const char *
hd_count_str(char *buf, size_t cap, long long n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof(tmp), "%lld", n < 0 ? -n : n), k = 0;
    size_t o = 0;
    if (n < 0 && o + 1 < cap)
        buf[o++] = '-';
    for (int i = 0; i < len && o + 2 < cap; i++) {
        buf[o++] = tmp[i];
        k = len - i - 1;
        if (k > 0 && k % 3 == 0)
            buf[o++] = ',';
    }
    buf[o] = 0;
    return buf;
}

const char *
hd_count_of(char *buf, size_t cap, long long n, const char *one,
            const char *many)
{
    char c[32];
    snprintf(buf, cap, "%s %s", hd_count_str(c, sizeof(c), n),
             n == 1 ? one : many);
    return buf;
}
