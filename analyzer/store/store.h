/* heapdig — MIT licence.
 *
 * store/store.h: the heap model written into a new SQLite database.
 */
#ifndef HEAPDIG_STORE_STORE_H
#define HEAPDIG_STORE_STORE_H

#include "heap/heap.h"

#include <sys/types.h> /* mode_t */

/* ---- store.c --------------------------------------------------------------- */


/* Writes the heap's rows, then frees it (*heap = NULL, whatever the
 * outcome past the rows) before the indexes are built: the load's peak is
 * the larger of the two phases, not their sum. */
int hd_store__write(hd_heap **heap, const char *db_path, mode_t mode,
                    hd_load_stats *stats);

#endif /* HEAPDIG_STORE_STORE_H */
