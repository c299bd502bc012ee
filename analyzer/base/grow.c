/* heapdig — MIT licence.
 *
 * grow.c: the analyzer's one way to grow an array: doubling, from 16
 * elements, with the multiplication checked (a count from a dump may be
 * anything), and an out-of-memory error said once.
 */
#include "base/base.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
hd_grow(void *arr, size_t *cap, size_t need, size_t size)
{
    void *p;
    size_t c = *cap ? *cap : 16;
    if (need <= *cap)
        return 0;
    while (c < need && c <= SIZE_MAX / 2)
        c *= 2;
    if (c < need || c > SIZE_MAX / size)
        return hd_error_set(HD_ENOMEM, "out of memory (%zu elements of %zu "
                            "bytes)", need, size);
    memcpy(&p, arr, sizeof(p)); /* arr is a T **: no aliasing cast */
    if ((p = realloc(p, c * size)) == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory (%zu elements of %zu "
                            "bytes)", c, size);
    memcpy(arr, &p, sizeof(p));
    *cap = c;
    return 0;
}
