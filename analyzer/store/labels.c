/* heapdig — MIT licence.
 *
 * labels.c: label texts stored once (the labels table), and every edge's
 * label id, made before the edges go to their own thread (store/write.h).
 */
#include "store/write.h"

#include <stdlib.h>
#include <string.h>

static uint64_t
text_hash(const char *t)
{
    uint64_t x = 1469598103934665603ull;
    for (; *t; t++)
        x = (x ^ (uint8_t)*t) * 1099511628211ull;
    return x | 1;
}

uint32_t
hd_label_id(hd_label_ids *li, const char *text)
{
    hd_hmap *m = &li->map;
    if (hd_hmap_reserve(m, 1) < 0)
        return 0;
    uint64_t hv = text_hash(text), slot = hd_hmap_first(m, hv);
    for (; m->keys[slot]; slot = (slot + 1) & m->mask)
        if (m->keys[slot] == hv && !strcmp(li->text[m->vals[slot]], text))
            return m->vals[slot];
    if (hd_grow(&li->text, &li->cap, (size_t)li->n + 2, sizeof(*li->text)) < 0)
        return 0;
    if ((li->text[li->n + 1] = strdup(text)) == NULL)
        return 0;
    hd_hmap_put_at(m, slot, hv, ++li->n);
    return li->n;
}

void
hd_label_ids_free(hd_label_ids *li)
{
    for (uint32_t i = 1; i <= li->n; i++)
        free(li->text[i]);
    free(li->text);
    hd_hmap_free(&li->map);
    *li = (hd_label_ids){0};
}

int
hd_labels_write(sqlite3 *db, const hd_label_ids *li)
{
    hd_batch b;
    int err = hd_batch_open(&b, db, "labels", 2);
    for (uint32_t i = 1; i <= li->n && err == 0; i++) {
        hd_batch_int(&b, i);
        hd_batch_text(&b, li->text[i], -1);
        err = hd_batch_row(&b);
    }
    return hd_batch_close(&b, err);
}

/* Labels repeat (".name", "['id']" on every instance): those naming a
 * string are rendered once per string id and kind. */
typedef struct label_cache {
    char **text; /* [kind][sid] flattened: text[k * (n_strings + 1) + sid] */
    uint32_t n_strings;
} label_cache;

static const char *
cached_label(label_cache *lc, const hd_heap *h, uint8_t w, uint64_t payload,
             char *buf, size_t cap)
{
    int k = w >> 1;
    int slot = k == HD_LBL_ATTR ? 0 : k == HD_LBL_KEY_STR ? 1 : -1;
    if (slot < 0 || lc->text == NULL || payload > lc->n_strings)
        return hd_heap__label(h, w, payload, buf, cap);
    char **t = &lc->text[(size_t)slot * (lc->n_strings + 1) + payload];
    if (*t == NULL) {
        const char *l = hd_heap__label(h, w, payload, buf, cap);
        *t = l ? strdup(l) : NULL;
        if (*t == NULL)
            return l;
    }
    return *t;
}

#define INDEX_IDS 65536 /* "[0]" .. "[65535]" keep their labels.id */

int
hd_labels_of_edges(const hd_heap *h, const uint32_t *idom, hd_label_ids *li,
                   uint32_t *edge_label, uint32_t *held_as)
{
    char buf[600];
    label_cache lc = {NULL, h->n_strings};
    int err = 0;
    /* best effort: without the caches labels are rendered per edge */
    lc.text = calloc(2 * ((size_t)h->n_strings + 1), sizeof(char *));
    uint32_t *index_ids = calloc(INDEX_IDS, sizeof(uint32_t));
    for (uint64_t o = 0; o < h->n_objects && err == 0; o++) {
        for (uint64_t e = h->edge_start[o]; e < h->edge_start[o + 1]; e++) {
            uint8_t w = h->edge_word[e];
            uint64_t payload = hd_heap__payload(h, e);
            /* "[3]": the small indices' ids are kept, not rendered again */
            uint32_t *idx = (w >> 1) == HD_LBL_INDEX && payload < INDEX_IDS &&
                                    index_ids
                                ? &index_ids[payload]
                                : NULL;
            const char *label = NULL;
            uint32_t id = idx ? *idx : 0;
            if (id == 0) {
                label = cached_label(&lc, h, w, payload, buf, sizeof(buf));
                id = label ? hd_label_id(li, label) : 0;
                if (idx)
                    *idx = id;
            }
            if (label && id == 0) {
                err = hd_error_set(HD_ENOMEM, "out of memory (labels)");
                break;
            }
            edge_label[e] = id;
            uint32_t d = h->edge_dst[e];
            /* the first strong reference, labelled or not (HD_NONE marks
             * none seen yet; 0 an unlabelled one) */
            if (held_as && !(w & HD_EDGE_WEAK) && idom[d] == o &&
                held_as[d] == HD_NONE)
                held_as[d] = id;
        }
    }
    for (size_t i = 0; lc.text && i < 2 * ((size_t)h->n_strings + 1); i++)
        free(lc.text[i]);
    free(lc.text);
    free(index_ids);
    return err;
}
