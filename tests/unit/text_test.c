/* heapdig — MIT licence.
 *
 * text_test.c: the one rule for putting heap text in front of a reader
 * (analyzer/text.c): escapes as Python's repr writes them, the JSON form,
 * text heapdig rendered already, cuts that say so and never overrun, and
 * the numbers tables print.
 */
#include "query/query.h"
#include "heapdig/format.h"
#include "harness.h"

#include <stdlib.h>

/* Escapes s (n bytes) into a buffer of cap with a guard after it. */
static const char *
esc(const char *s, size_t n, int mode, size_t cap, size_t max_chars)
{
    static char buf[512];
    memset(buf, 'G', sizeof(buf));
    size_t k = hd_text_escape(buf, cap, s, n, mode, max_chars);
    CHECK(k < cap);
    CHECK(buf[k] == 0);
    CHECK(buf[cap] == 'G'); /* nothing written past cap */
    return buf;
}

#define ESC(lit, mode) esc(lit, sizeof(lit) - 1, mode, 256, 0)

static void
test_text__plain_is_pythons_repr(void)
{
    CHECK(!strcmp(ESC("a\nb\tc\rd", HD_TEXT_PLAIN), "a\\nb\\tc\\rd"));
    CHECK(!strcmp(ESC("\x1b[31mred", HD_TEXT_PLAIN), "\\x1b[31mred"));
    CHECK(!strcmp(ESC("nul\0byte", HD_TEXT_PLAIN), "nul\\x00byte"));
    CHECK(!strcmp(ESC("back\\slash", HD_TEXT_PLAIN), "back\\\\slash"));
    CHECK(!strcmp(ESC("\x7f\xc2\x9b", HD_TEXT_PLAIN), "\\x7f\\x9b"));
    /* bidi overrides and isolates would reorder the line */
    CHECK(!strcmp(ESC("abc\xe2\x80\xae" "def", HD_TEXT_PLAIN), "abc\\u202edef"));
    CHECK(!strcmp(ESC("\xe2\x81\xa6x", HD_TEXT_PLAIN), "\\u2066x"));
    /* what a reader may see stays itself */
    CHECK(!strcmp(ESC("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
                      HD_TEXT_PLAIN),
                  "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"));
}

static void
test_text__invalid_utf8(void)
{
    /* a lone continuation byte, an overlong '/', a surrogate, past U+10FFFF */
    CHECK(!strcmp(ESC("\x80", HD_TEXT_PLAIN), "\\x80"));
    CHECK(!strcmp(ESC("\xc0\xaf", HD_TEXT_PLAIN), "\\xc0\\xaf"));
    CHECK(!strcmp(ESC("\xed\xa0\x80", HD_TEXT_PLAIN), "\\xed\\xa0\\x80"));
    CHECK(!strcmp(ESC("\xf4\x90\x80\x80", HD_TEXT_PLAIN),
                  "\\xf4\\x90\\x80\\x80"));
    /* JSON output must be valid UTF-8: U+FFFD */
    CHECK(!strcmp(ESC("a\xff" "b", HD_TEXT_JSON), "a\xef\xbf\xbd" "b"));
}

static void
test_text__json(void)
{
    CHECK(!strcmp(ESC("say \"hi\"\n", HD_TEXT_JSON), "say \\\"hi\\\"\\n"));
    CHECK(!strcmp(ESC("\x1b\\", HD_TEXT_JSON), "\\u001b\\\\"));
}

static void
test_text__rendered_keeps_its_escapes(void)
{
    /* a label heapdig wrote: ['a\nb'] is already escaped */
    CHECK(!strcmp(ESC("['a\\nb']", HD_TEXT_RENDERED), "['a\\nb']"));
    /* but a database is input: a raw newline in one is still escaped */
    CHECK(!strcmp(ESC("['a\nb']", HD_TEXT_RENDERED), "['a\\nb']"));
}

static void
test_text__cuts_say_so_and_stay_inside(void)
{
    CHECK(!strcmp(esc("abcdefgh", 8, HD_TEXT_PLAIN, 256, 3),
                  "abc\xe2\x80\xa6"));
    /* a small buffer: cut at a character, "…", NUL, nothing past it */
    const char *s = esc("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 9,
                        HD_TEXT_PLAIN, 8, 0);
    CHECK(!strcmp(s, "\xe6\x97\xa5\xe2\x80\xa6"));
    s = esc("\x1b\x1b\x1b\x1b", 4, HD_TEXT_PLAIN, 10, 0);
    CHECK(!strcmp(s, "\\x1b\xe2\x80\xa6"));
    for (size_t cap = 1; cap < 12; cap++)
        esc("a\nb\x1b\xe6\x97\xa5\xff", 8, HD_TEXT_PLAIN, cap, 0);
}

static void
test_text__values(void)
{
    char out[64];
    hd_value_text(out, sizeof(out), "text", 4, HD_DB_VALUE_STR, 0);
    CHECK(!strcmp(out, "'text'"));
    hd_value_text(out, sizeof(out), "it's", 4, HD_DB_VALUE_STR, 0);
    CHECK(!strcmp(out, "\"it's\""));                 /* as repr() quotes it */
    hd_value_text(out, sizeof(out), "pre", 3,
                  HD_DB_VALUE_STR | HD_OBJ_VALUE_TRUNC, 0);
    CHECK(!strcmp(out, "'pre\xe2\x80\xa6'"));
    /* a value the load rendered (bytes, numbers) is shown as it is */
    hd_value_text(out, sizeof(out), "b'\\x00'", 7, 0, 0);
    CHECK(!strcmp(out, "b'\\x00'"));
    hd_value_text(out, sizeof(out), "2.5", 3, 0, 0);
    CHECK(!strcmp(out, "2.5"));
}

static void
test_text__widths_and_numbers(void)
{
    char b[32];
    CHECK_EQ(hd_text_width("abc"), 3);
    CHECK_EQ(hd_text_width("\xe6\x97\xa5\xe6\x9c\xac"), 4);   /* two wide */
    CHECK_EQ(hd_text_width("e\xcc\x81"), 1);                 /* combining */
    CHECK_EQ(hd_text_width("\xf0\x9f\x98\x80"), 2);          /* emoji */
    CHECK(!strcmp(hd_count_str(b, sizeof(b), 34606), "34,606"));
    CHECK(!strcmp(hd_count_str(b, sizeof(b), -1234567), "-1,234,567"));
    CHECK(!strcmp(hd_count_str(b, sizeof(b), 0), "0"));
    CHECK(!strcmp(hd_count_of(b, sizeof(b), 1, "object", "objects"),
                  "1 object"));
    CHECK(!strcmp(hd_count_of(b, sizeof(b), 0, "root", "roots"), "0 roots"));
    CHECK(!strcmp(hd_count_of(b, sizeof(b), 34606, "cycle", "cycles"),
                  "34,606 cycles"));
    CHECK(!strcmp(hd_count_str(b, sizeof(b), 999), "999"));
    CHECK(!strcmp(hd_bytes_str(b, sizeof(b), 1536), "1.5 KiB"));
    CHECK(!strcmp(hd_bytes_str(b, sizeof(b), 512), "512 B"));
    CHECK(!strcmp(hd_bytes_str(b, sizeof(b), 3.0 * 1073741824), "3.0 GiB"));
}

int
main(int argc, char **argv)
{
    static const hd_test_case cases[] = {
        TEST(test_text__plain_is_pythons_repr),
        TEST(test_text__invalid_utf8),
        TEST(test_text__json),
        TEST(test_text__rendered_keeps_its_escapes),
        TEST(test_text__cuts_say_so_and_stay_inside),
        TEST(test_text__values),
        TEST(test_text__widths_and_numbers),
    };
    return hd_test_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
