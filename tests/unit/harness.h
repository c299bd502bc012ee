/* heapdig — MIT licence.
 *
 * harness.h: a minimal test runner in the spirit of clar: cases are
 * functions named test_<module>__<case>, listed in a table; CHECK records a
 * failure with file:line and carries on.  Prints "N passed, N failed".
 */
#ifndef HEAPDIG_TEST_HARNESS_H
#define HEAPDIG_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

static int hd_test_failures;

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__,          \
                    __LINE__, #cond);                                         \
            hd_test_failures++;                                               \
        }                                                                     \
    } while (0)

#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_) {                                                       \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n",     \
                    __FILE__, __LINE__, #a, a_, #b, b_);                      \
            hd_test_failures++;                                               \
        }                                                                     \
    } while (0)

typedef struct hd_test_case {
    const char *name;
    void (*fn)(void);
} hd_test_case;

#define TEST(fn) {#fn, fn}

static int
hd_test_main(const hd_test_case *cases, size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strstr(cases[i].name, argv[1]) == NULL)
            continue;
        int before = hd_test_failures;
        cases[i].fn();
        if (hd_test_failures == before) {
            passed++;
            printf("ok   %s\n", cases[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", cases[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif
