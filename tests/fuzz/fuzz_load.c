/* heapdig — MIT licence.
 *
 * fuzz_load.c: libFuzzer target for the load pipeline short of SQLite:
 * read the bytes as a dump (hd_heap__read: records into the heap model,
 * address resolution), then run the whole analysis on what was read
 * (roots, BFS, cycles, dominators, retained sizes, paths).  Hostile
 * addresses, labels, refcounts and graphs must neither crash nor hang it.
 */
#define _GNU_SOURCE
#include "read/read.h"
#include "analyze/analyze.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    hd_heap *h = NULL;
    int fd = memfd_create("heapdig-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    for (size_t done = 0; done < size;) {
        ssize_t k = write(fd, data + done, size - done);
        if (k <= 0)
            goto done;
        done += (size_t)k;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    hd_heap__read(&h, path, NULL, NULL);
    if (h != NULL) { /* a truncated dump is analysed as far as it goes */
        hd_analysis a;
        if (hd_analyze(h, &a) == 0)
            hd_analysis__free(&a);
    }
done:
    hd_heap__free(h);
    close(fd);
    return 0;
}
