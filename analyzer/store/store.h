/* heapdig — MIT licence.
 *
 * store/store.h: the heap model and its analysis written into a new SQLite
 * database.
 */
#ifndef HEAPDIG_STORE_STORE_H
#define HEAPDIG_STORE_STORE_H

#include "analyze/analyze.h"

#include <sys/types.h> /* mode_t */

/* ---- store.c --------------------------------------------------------------- */


/* Writes the rows of the heap and its analysis, then frees both (*heap =
 * NULL, whatever the outcome past the rows) before the indexes are built:
 * the load's peak is the larger of the two phases, not their sum. */
int hd_store__write(hd_heap **heap, hd_analysis *a, const char *db_path,
                    mode_t mode, hd_load_stats *stats);

#endif /* HEAPDIG_STORE_STORE_H */
