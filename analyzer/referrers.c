/* heapdig — MIT licence.
 *
 * referrers.c: shortest referrer chains.
 *
 * Design: a breadth-first search over strong edges from the roots, in
 * three phases, each a multi-source BFS that goes on from where the last
 * stopped: sys.modules and builtins; then the threads' frames, locals and
 * dicts; then objects held from outside the heap and immortal ones.  So an
 * object gets the shortest chain from the first kind of root that reaches
 * it at all: module globals read as the module's (`app._CACHE[...]`), not
 * as a frame's f_globals, and a function that C code (atexit) also holds
 * does not turn every chain through it into "held from outside".  For every
 * object it records depth (distance from its root) and parent (the object
 * that first reached it), so the chain is a walk up `parent`, in C or in a
 * recursive SQL query.  Weak edges are never followed: they keep nothing
 * alive.  O(V+E) time, one u32 queue.
 */
#include "analyzer_int.h"
#include "heapdig/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bfs_from(hd_heap *h, uint32_t *queue, uint64_t *headp,
                     uint64_t *tailp);

int
hd_refchain__bfs(hd_heap *h)
{
    uint64_t n = h->n_objects, head = 0, tail = 0;
    uint32_t *queue = malloc(((size_t)n + 1) * sizeof(uint32_t));
    h->reachable = calloc((size_t)n + 1, 1);
    h->depth = malloc(((size_t)n + 1) * sizeof(uint32_t));
    h->parent = malloc(((size_t)n + 1) * sizeof(uint32_t));
    h->parent_edge = malloc(((size_t)n + 1) * sizeof(uint64_t));
    if (queue == NULL || h->reachable == NULL || h->depth == NULL ||
        h->parent == NULL || h->parent_edge == NULL) {
        free(queue);
        return hd_error_set(HD_ENOMEM, "out of memory (BFS)");
    }
    for (uint64_t o = 0; o < n; o++)
        h->depth[o] = h->parent[o] = HD_NONE;
    uint64_t phase_end[3] = {h->n_module_roots, h->n_named_roots,
                             h->n_root_order};
    for (int phase = 0, i = 0; phase < 3; phase++) {
        for (; (uint64_t)i < phase_end[phase]; i++) {
            uint32_t r = h->root_order[i];
            if (h->reachable[r])
                continue; /* already explained by an earlier kind of root */
            h->reachable[r] = 1;
            h->depth[r] = 0;
            queue[tail++] = r;
        }
        bfs_from(h, queue, &head, &tail);
    }
    h->bfs_order = queue; /* kept: signatures walk it in the same order */
    h->n_bfs = tail;
    return 0;
}

static void
bfs_from(hd_heap *h, uint32_t *queue, uint64_t *headp, uint64_t *tailp)
{
    uint64_t head = *headp, tail = *tailp;
    while (head < tail) {
        uint32_t v = queue[head++];
        for (uint64_t e = h->edge_start[v]; e < h->edge_start[v + 1]; e++) {
            uint32_t w = h->edge_dst[e];
            if ((h->edge_word[e] & HD_EDGE_WEAK) || h->reachable[w])
                continue;
            h->reachable[w] = 1;
            h->depth[w] = h->depth[v] + 1;
            h->parent[w] = v;
            h->parent_edge[w] = e;
            queue[tail++] = w;
        }
    }
    *headp = head;
    *tailp = tail;
}

/* ---- Chain signatures ----------------------------------------------------------
 *
 * For `heapdig diff`: addresses are reused between dumps, so objects are
 * matched by where they are held.  The signature of an object is its BFS
 * chain from a root, generalised: list/tuple indices and the keys of data
 * dicts become [*]; attribute names, and the keys of namespaces (module,
 * class and instance __dict__s, sys.modules, builtins, a frame's f_locals)
 * stay, so "sys.modules['app'].__dict__['_CACHE'][*].payload" names every
 * cached payload in one line.  Root names lose what changes between runs
 * (thread ids, line numbers, addresses).
 *
 * Recursion is folded: a step that repeats the one before it, or the two
 * before it, joins the earlier signature, so a linked list is
 * "['head'](.next)+" and a tree "root(.children[*])+" however deep (a
 * signature per depth would make each a row of its own, and no two dumps
 * agree on the depth).
 *
 * Computed in BFS order, so a parent's signature is known first: O(V) with
 * a hash of (parent signature, step) -> signature.  Stored as a tree (the
 * signature before, the last step, a hash of the whole text): the text of
 * a deep chain is written out only for the rows a person reads (store.c,
 * held_text()).
 */

#define SIG_MAX_TEXT 400 /* bytes of one step */

#define SIG_MAX_PERIOD 4 /* ".__dict__['children'][*]" and back: 3.9's tree */

typedef struct sig {
    uint32_t parent;    /* signature, 0 at a root */
    uint32_t loop;      /* first signature of the loop it is in, or 0 */
    uint32_t loop_end;  /* on a loop's first signature: its last */
    uint8_t loop_len;   /* steps in the loop; its place in it: */
    uint8_t loop_pos;
    char *step;         /* its last step: ".next", "[*]", a root's name */
} sig;

typedef struct sigmap {
    hd_hmap map;    /* hash of (parent, step) -> signature */
    sig *sigs;      /* [1..n] */
    uint32_t n, cap;
} sigmap;

static uint64_t
sig_hash(uint64_t seed, const char *step)
{
    uint64_t x = 1469598103934665603ull ^ seed;
    for (const char *p = step; *p; p++)
        x = (x ^ (uint8_t)*p) * 1099511628211ull;
    return x | 1;
}

/* The signature (parent, step), made if new: its id, or 0 out of memory. */
static uint32_t
sig_intern(sigmap *m, uint32_t parent, const char *step)
{
    hd_hmap *map = &m->map;
    if (hd_hmap_reserve(map, 1) < 0)
        return 0;
    uint64_t hv = sig_hash(parent, step), slot = hd_hmap_first(map, hv);
    for (; map->keys[slot]; slot = (slot + 1) & map->mask) {
        sig *c = &m->sigs[map->vals[slot]];
        if (map->keys[slot] == hv && c->parent == parent &&
            !strcmp(c->step, step))
            return map->vals[slot];
    }
    if (m->n + 1 >= m->cap) {
        sig *t = realloc(m->sigs, (size_t)m->cap * 2 * sizeof(sig));
        if (t == NULL)
            return 0;
        m->sigs = t;
        m->cap *= 2;
    }
    char *text = strdup(step);
    if (text == NULL)
        return 0;
    uint32_t id = ++m->n;
    m->sigs[id] = (sig){parent, 0, 0, 0, 0, text};
    hd_hmap_put_at(map, slot, hv, id);
    return id;
}

/* The signature of object o's step below `parent`, folding recursion: a
 * step that repeats the one k steps up (k = 1 .. SIG_MAX_PERIOD), with the
 * objects' types repeating along those k hops too (a module's dict and a
 * class's dict below it are no recursion), joins that earlier signature:
 * "X A" + A is "X(A)+", "X A B" + A is "X(A B)*A". */
static uint32_t
sig_step(sigmap *m, const hd_heap *h, uint32_t o, uint32_t parent,
         const char *step)
{
    uint32_t up[2 * SIG_MAX_PERIOD + 1]; /* o's BFS ancestors; up[0] = o */
    int n_up = 1;
    up[0] = o;
    while (n_up <= 2 * SIG_MAX_PERIOD && h->parent[up[n_up - 1]] != HD_NONE) {
        up[n_up] = h->parent[up[n_up - 1]];
        n_up++;
    }
    for (int k = 1; parent && k <= SIG_MAX_PERIOD; k++) {
        /* the loop's first signature: k - 1 above the parent */
        uint32_t first = parent, chain[SIG_MAX_PERIOD];
        int ok = 1;
        for (int i = 0; i < k; i++) {
            if (first == 0) {
                ok = 0;
                break;
            }
            chain[k - 1 - i] = first;
            if (i < k - 1)
                first = m->sigs[first].parent;
        }
        if (!ok || m->sigs[first].parent == 0 || 2 * k > n_up ||
            strcmp(m->sigs[first].step, step))
            continue;
        for (int i = 0; i < k && ok; i++)
            ok = h->type[up[i]] == h->type[up[i + k]];
        /* a new loop of signatures in none, or this very loop again */
        const sig *f = &m->sigs[first];
        if (f->loop == 0) {
            for (int i = 0; i < k && ok; i++)
                ok = m->sigs[chain[i]].loop == 0;
        } else {
            ok = ok && f->loop == first && f->loop_len == k &&
                 f->loop_end == chain[k - 1];
        }
        if (!ok)
            continue;
        for (int i = 0; i < k; i++) {
            sig *c = &m->sigs[chain[i]];
            c->loop = first;
            c->loop_len = (uint8_t)k;
            c->loop_pos = (uint8_t)i;
        }
        m->sigs[first].loop_end = parent;
        return first;
    }
    return sig_intern(m, parent, step);
}

/* Every signature as the step that ends it and the signature before that
 * step (parents first: a parent's id is lower), the folds written as
 * "(.next)+", "(.children[*])*.children" and "(.children[*])+"; and a hash
 * of the whole text, which diff compares across dumps. */
static int
sig_steps(const sigmap *m, hd_heap *h)
{
    /* a loop's text: "(" + its steps + ")*" + all but one of them again */
    char add[2 * SIG_MAX_PERIOD * (SIG_MAX_TEXT + 16) + 8];
    for (uint32_t i = 1; i <= m->n; i++) {
        const sig *s = &m->sigs[i];
        uint32_t base = s->parent;
        if (s->loop) {
            /* "(A B)+" at the loop's last place, "(A B)*A" before it */
            const sig *first = &m->sigs[s->loop];
            const char *steps[SIG_MAX_PERIOD];
            uint32_t c = first->loop_end;
            for (int j = s->loop_len; j-- > 0; c = m->sigs[c].parent)
                steps[j] = m->sigs[c].step;
            size_t len = 0;
            add[len++] = '(';
            for (int j = 0; j < s->loop_len; j++)
                len += (size_t)snprintf(add + len, sizeof(add) - len, "%s",
                                        steps[j]);
            add[len++] = ')';
            add[len++] = s->loop_pos == s->loop_len - 1 ? '+' : '*';
            add[len] = 0;
            for (int j = 0; s->loop_pos < s->loop_len - 1 && j <= s->loop_pos;
                 j++)
                len += (size_t)snprintf(add + len, sizeof(add) - len, "%s",
                                        steps[j]);
            base = first->parent;
        } else
            snprintf(add, sizeof(add), "%s", s->step);
        h->path_base[i] = base;
        h->path_hash[i] = sig_hash(h->path_hash[base], add);
        if ((h->path_step[i] = strdup(add)) == NULL)
            return -1;
    }
    return 0;
}
/* The generalised text of a root's name. */
static void
root_signature(const hd_heap *h, uint32_t o, const char *name, int kind,
               char *buf, size_t cap)
{
    const char *tn = h->type_name ? hd_heap__str(h, h->type_name[h->type[o]],
                                                 NULL)
                                  : "object";
    if (kind == HD_ROOT_SYS_MODULES)
        snprintf(buf, cap, "sys.modules");
    else if (kind == HD_ROOT_BUILTINS)
        snprintf(buf, cap, "builtins");
    else if (kind == HD_ROOT_FRAME || kind == HD_ROOT_LOCAL ||
             kind == HD_ROOT_THREAD) {
        /* "thread 1402 #1 main (app.py:12) local x" -> "main() local x" */
        const char *p = name, *hash = strchr(name, '#');
        char fn[200] = "", rest[200] = "";
        if (hash && (p = strchr(hash, ' ')) != NULL) {
            const char *paren = strstr(p + 1, " (");
            size_t n = paren ? (size_t)(paren - (p + 1)) : strlen(p + 1);
            snprintf(fn, sizeof(fn), "%.*s", (int)n, p + 1);
            const char *close = paren ? strstr(paren, ") ") : NULL;
            if (close)
                snprintf(rest, sizeof(rest), " %s", close + 2);
        }
        snprintf(buf, cap, "%s()%s", fn[0] ? fn : "frame", rest);
        if (kind == HD_ROOT_THREAD)
            snprintf(buf, cap, "thread dict");
    } else
        snprintf(buf, cap, "<%s>", tn);
}

/* The step from an object's BFS parent, generalised; its namespace flag. */
static void
sig_step_label(const hd_heap *h, uint32_t o, const uint8_t *ns, int is_dict,
               const char *tn, char *label, size_t cap, uint8_t *ns_out)
{
    char buf[600];
    uint32_t p = h->parent[o];
    uint64_t e = h->parent_edge[o];
    uint8_t w = h->edge_word[e];
    int kind = w >> 1;
    const char *l;
    if (kind == HD_LBL_INDEX ||
        ((kind == HD_LBL_KEY_STR || kind == HD_LBL_KEY_INT ||
          kind == HD_LBL_KEY_OTHER) && !ns[p]))
        l = "[*]";
    else if ((l = hd_heap__label(h, w, h->edge_payload[e], buf,
                                 sizeof(buf))) == NULL) {
        snprintf(buf, sizeof(buf), "->%s", tn);
        l = buf;
    }
    snprintf(label, cap, "%.*s", SIG_MAX_TEXT, l);
    /* Namespaces keep their keys: a module's, class's or instance's
     * __dict__, and the same globals reached through a function or a
     * frame. */
    *ns_out = is_dict && kind == HD_LBL_ATTR &&
              (!strcmp(l, ".__dict__") || !strcmp(l, ".__globals__") ||
               !strcmp(l, ".f_globals") || !strcmp(l, ".f_locals") ||
               !strcmp(l, ".f_builtins") || !strcmp(l, ".__builtins__"));
}

int
hd_refchain__signatures(hd_heap *h)
{
    uint64_t n = h->n_objects;
    sigmap m = {0};
    uint8_t *ns = calloc((size_t)n + 1, 1);       /* keeps its keys */
    int8_t *root_kind = calloc((size_t)n + 1, 1);
    uint32_t *root_name = calloc((size_t)n + 1, sizeof(uint32_t));
    char label[SIG_MAX_TEXT + 16];
    int err = 0;

    h->path = calloc((size_t)n + 1, sizeof(uint32_t));
    m.cap = 1024;
    m.sigs = calloc(m.cap, sizeof(sig));
    if (!ns || !root_kind || !root_name || !h->path || !m.sigs)
        goto nomem;
    for (uint64_t i = h->n_roots; h->root_kind && i-- > 0;) {
        /* first named root wins */
        root_kind[h->root_obj[i]] = (int8_t)h->root_kind[i];
        root_name[h->root_obj[i]] = h->root_name[i];
    }
    for (uint64_t k = 0; k < h->n_bfs; k++) {
        uint32_t o = h->bfs_order[k], id;
        const char *tn = h->type_name ? hd_heap__str(h, h->type_name[h->type[o]],
                                                     NULL)
                                      : "object"; /* a graph with no names */
        int is_dict = !strcmp(tn, "dict");
        if (h->parent[o] == HD_NONE) {
            root_signature(h, o, hd_heap__str(h, root_name[o], NULL),
                           root_kind[o], label, sizeof(label));
            ns[o] = is_dict && root_kind[o] != 0;
            id = sig_intern(&m, 0, label);
        } else {
            uint32_t p = h->parent[o];
            sig_step_label(h, o, ns, is_dict, tn, label, sizeof(label), &ns[o]);
            id = sig_step(&m, h, o, h->path[p], label);
        }
        if (id == 0)
            goto nomem;
        h->path[o] = id;
    }
    h->path_step = calloc((size_t)m.n + 1, sizeof(char *));
    h->path_base = calloc((size_t)m.n + 1, sizeof(uint32_t));
    h->path_hash = calloc((size_t)m.n + 1, sizeof(uint64_t));
    h->n_paths = m.n; /* the steps are the heap's, made or not */
    if (!h->path_step || !h->path_base || !h->path_hash || sig_steps(&m, h) < 0)
        goto nomem;
    goto done;
nomem:
    err = hd_error_set(HD_ENOMEM, "out of memory (signatures)");
done:
    for (uint32_t i = 1; m.sigs && i <= m.n; i++)
        free(m.sigs[i].step);
    free(m.sigs);
    hd_hmap_free(&m.map);
    free(ns);
    free(root_kind);
    free(root_name);
    return err;
}

/* ---- Chains from a loaded database (hd_refchain_find) ----------------------
 *
 * Without options the chain is the stored BFS tree: walk objects.parent up to
 * a root, then name each step by the label of a strong reference.  With
 * exclusions (or weak references allowed) it is a fresh backward BFS from the
 * object over referrers (refs_dst index) that skips excluded objects and
 * types and stops at the first root (objects.depth = 0): the first root found
 * is a nearest one, so the chain is shortest in the graph without the
 * excluded retainers.
 */

/* Object ids seen by the search: id + 1 -> its place in the queue. */
static int
idmap_put(hd_hmap *m, int64_t id, uint32_t v)
{
    if (hd_hmap_reserve(m, 1) < 0)
        return -1;
    uint64_t key = (uint64_t)id + 1, j = hd_hmap_first(m, key);
    while (m->keys[j] && m->keys[j] != key)
        j = (j + 1) & m->mask;
    hd_hmap_put_at(m, j, key, v);
    return 0;
}

static int
idmap_has(const hd_hmap *m, int64_t id)
{
    uint64_t key = (uint64_t)id + 1;
    if (m->keys == NULL)
        return 0;
    for (uint64_t j = hd_hmap_first(m, key); m->keys[j]; j = (j + 1) & m->mask)
        if (m->keys[j] == key)
            return 1;
    return 0;
}

void
hd_chain_free(hd_chain *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->labels && i < c->n; i++)
        free(c->labels[i]);
    free(c->labels);
    free(c->ids);
    free(c->weak);
    free(c);
}

static hd_chain *
chain_new(size_t n)
{
    hd_chain *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->n = n;
    c->ids = calloc(n ? n : 1, sizeof(*c->ids));
    c->labels = calloc(n ? n : 1, sizeof(*c->labels));
    c->weak = calloc(n ? n : 1, sizeof(*c->weak));
    if (!c->ids || !c->labels || !c->weak) {
        hd_chain_free(c);
        return NULL;
    }
    return c;
}

/* How a root is named: the named root, or what the object is and that it
 * is held from outside the heap. */
static char *
root_name(hd_db *db, int64_t id)
{
    hd_rows *r = NULL;
    char buf[600];
    int64_t p[1] = {id};
    buf[0] = 0;
    /* an anonymous root says what it is: "function shutdown, held from
     * outside the heap (1 ref)" is atexit's, in C */
    if (hd_query(&r, db, "SELECT name FROM roots WHERE object = ?1 UNION ALL "
                 "SELECT CASE WHEN o.flags & 32 THEN 'immortal' ELSE "
                 "printf('%s%s, held from outside the heap (%d ref%s)', t.name,"
                 " coalesce(' ' || shown_value(substr(o.value, 1, 40), "
                 "o.flags), ''), o.external, CASE WHEN o.external = 1 THEN ''"
                 " ELSE 's' END) END FROM objects o JOIN types t ON t.id = "
                 "o.type WHERE o.id = ?1", 0, NULL) == 0) {
        hd_rows_rerun(r, 1, p);
        if (hd_rows_next(r) == 1 && hd_rows_text(r, 0))
            snprintf(buf, sizeof(buf), "%s", hd_rows_text(r, 0));
    }
    hd_rows_free(r);
    return strdup(buf);
}

/* The label of a reference src -> dst (labelled strong ones preferred). */
static int
edge_label(hd_rows *st, int64_t src, int64_t dst, char **label, int *weak)
{
    int64_t p[2] = {src, dst};
    *label = NULL;
    *weak = 0;
    hd_rows_rerun(st, 2, p);
    int r = hd_rows_next(st);
    if (r < 0)
        return r;
    if (r == 1) {
        const char *l = hd_rows_text(st, 0);
        *weak = hd_rows_text(st, 1) && !strcmp(hd_rows_text(st, 1), "weak");
        if (l && (*label = strdup(l)) == NULL)
            return hd_error_set(HD_ENOMEM, "out of memory");
    }
    return 0;
}

static int
chain_from_parents(hd_chain **out, hd_db *db, int64_t id)
{
    hd_rows *st = NULL, *lab = NULL;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    hd_chain *c = NULL;
    int err = 0;
    if ((err = hd_query(&st, db, "SELECT parent, depth FROM objects WHERE "
                        "id = ?1", 0, NULL)) < 0 ||
        (err = hd_query(&lab, db, "SELECT label, kind FROM refs WHERE src = ?1"
                        " AND dst = ?2 ORDER BY kind = 'weak', label IS NULL "
                        "LIMIT 1", 0, NULL)) < 0)
        goto done;
    /* depth falls by one at each step up: a database whose parent links
     * loop (or skip) is refused, never walked forever */
    int64_t want_depth = -1;
    for (int64_t cur = id;;) {
        int64_t p[1] = {cur};
        hd_rows_rerun(st, 1, p);
        if ((err = hd_rows_next(st)) < 0)
            goto done;
        if (err == 0) {
            err = hd_error_set(HD_EINVAL, "no object #%" PRId64, cur);
            goto done;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            int64_t *x = realloc(ids, cap * sizeof(*x));
            if (x == NULL) {
                err = hd_error_set(HD_ENOMEM, "out of memory");
                goto done;
            }
            ids = x;
        }
        ids[n++] = cur;
        if (hd_rows_text(st, 1) == NULL) {
            err = hd_error_set(HD_EINVAL, "no root reaches #%" PRId64 ": it "
                               "is garbage (unreachable); see `heapdig "
                               "cycles --garbage`", id);
            goto done;
        }
        int64_t depth = hd_rows_int(st, 1);
        if ((want_depth >= 0 && depth != want_depth) || depth < 0) {
            err = hd_error_set(HD_EINVAL, "the database is inconsistent: "
                               "#%" PRId64 " is at depth %" PRId64 " on the "
                               "way up from #%" PRId64 " (load the dump "
                               "again)", cur, depth, id);
            goto done;
        }
        want_depth = depth - 1;
        if (hd_rows_text(st, 0) == NULL)
            break; /* a root */
        if (depth == 0) {
            err = hd_error_set(HD_EINVAL, "the database is inconsistent: "
                               "root #%" PRId64 " has a parent (load the dump "
                               "again)", cur);
            goto done;
        }
        cur = hd_rows_int(st, 0);
    }
    if ((c = chain_new(n)) == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        c->ids[i] = ids[n - 1 - i];
    c->labels[0] = root_name(db, c->ids[0]);
    for (size_t i = 1; i < n; i++)
        if ((err = edge_label(lab, c->ids[i - 1], c->ids[i], &c->labels[i],
                              &c->weak[i])) < 0)
            goto done;
    *out = c;
    c = NULL;
done:
    hd_chain_free(c);
    hd_rows_free(st);
    hd_rows_free(lab);
    free(ids);
    return err;
}

int
hd_refchain_find(hd_chain **out, hd_db *db, const int64_t id,
                 const hd_chain_opts *o)
{
    hd_rows *st = NULL, *self = NULL;
    hd_hmap seen = {0};
    int64_t *node = NULL;     /* BFS nodes */
    uint32_t *next = NULL;    /* index of the node each leads to */
    char **label = NULL;      /* label of node -> next */
    uint8_t *weak = NULL;
    size_t n = 0, cap = 0, head = 0, found = SIZE_MAX;
    uint64_t limit = o && o->max_visit ? o->max_visit : 5000000;
    hd_chain *c = NULL;
    int err = 0;

    *out = NULL;
    if (o == NULL || (!o->n_exclude_ids && !o->n_exclude_types && !o->weak))
        return chain_from_parents(out, db, id);

#define PUSH(ID, NEXT, LABEL, WEAK)                                           \
    do {                                                                      \
        if (n == cap) {                                                       \
            cap = cap ? cap * 2 : 1024;                                       \
            int64_t *a_ = realloc(node, cap * sizeof(*node));                 \
            uint32_t *b_ = a_ ? realloc(next, cap * sizeof(*next)) : NULL;    \
            char **c_ = b_ ? realloc(label, cap * sizeof(*label)) : NULL;     \
            uint8_t *d_ = c_ ? realloc(weak, cap) : NULL;                     \
            if (a_) node = a_;                                                \
            if (b_) next = b_;                                                \
            if (c_) label = c_;                                               \
            if (d_ == NULL) {                                                 \
                err = hd_error_set(HD_ENOMEM, "out of memory");               \
                goto done;                                                    \
            }                                                                 \
            weak = d_;                                                        \
        }                                                                     \
        node[n] = (ID);                                                       \
        next[n] = (NEXT);                                                     \
        label[n] = (LABEL);                                                   \
        weak[n] = (WEAK);                                                     \
        if (idmap_put(&seen, (ID), (uint32_t)n) < 0) {                        \
            free(label[n]);                                                   \
            err = hd_error_set(HD_ENOMEM, "out of memory");                   \
            goto done;                                                        \
        }                                                                     \
        n++;                                                                  \
    } while (0)

    if ((err = hd_query(&self, db, "SELECT depth FROM objects WHERE id = ?1",
                        0, NULL)) < 0 ||
        (err = hd_query(&st, db, "SELECT r.src, r.label, r.kind, o.depth, "
                        "t.name FROM refs r JOIN objects o ON o.id = r.src "
                        "JOIN types t ON t.id = o.type WHERE r.dst = ?1", 0,
                        NULL)) < 0)
        goto done;
    {
        int64_t p[1] = {id};
        hd_rows_rerun(self, 1, p);
        if ((err = hd_rows_next(self)) < 0)
            goto done;
        if (err == 0) {
            err = hd_error_set(HD_EINVAL, "no object #%" PRId64, id);
            goto done;
        }
        err = 0;
        PUSH(id, UINT32_MAX, NULL, 0);
        if (hd_rows_text(self, 0) && hd_rows_int(self, 0) == 0)
            found = 0; /* the object is a root itself */
    }
    while (found == SIZE_MAX && head < n && n < limit) {
        size_t cur = head++;
        int64_t p[1] = {node[cur]};
        hd_rows_rerun(st, 1, p);
        while ((err = hd_rows_next(st)) == 1) {
            int64_t src = hd_rows_int(st, 0);
            const char *kind = hd_rows_text(st, 2), *tn = hd_rows_text(st, 4);
            int is_weak = kind && !strcmp(kind, "weak"), skip = 0;
            if ((is_weak && !o->weak) || idmap_has(&seen, src))
                continue;
            for (size_t i = 0; i < o->n_exclude_ids && !skip; i++)
                skip = o->exclude_ids[i] == src;
            for (size_t i = 0; i < o->n_exclude_types && !skip && tn; i++)
                skip = !strcmp(o->exclude_types[i], tn);
            if (skip)
                continue;
            char *l = hd_rows_text(st, 1) ? strdup(hd_rows_text(st, 1)) : NULL;
            PUSH(src, (uint32_t)cur, l, (uint8_t)is_weak);
            if (hd_rows_text(st, 3) && hd_rows_int(st, 3) == 0) {
                found = n - 1;
                break;
            }
        }
        if (err < 0)
            goto done;
        err = 0;
    }
    if (found == SIZE_MAX) {
        err = hd_error_set(HD_EINVAL, n >= limit
                                          ? "no chain found within %" PRIu64
                                            " objects"
                                          : "no root reaches #%" PRId64
                                            " without the excluded "
                                            "retainers",
                           n >= limit ? limit : (uint64_t)id);
        goto done;
    }
    size_t len = 0;
    for (size_t i = found; i != UINT32_MAX; i = next[i])
        len++;
    if ((c = chain_new(len)) == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t i = found; i != UINT32_MAX; i = next[i], k++) {
        c->ids[k] = node[i];
        /* label[i] names node[i] -> node[next[i]]: it belongs to k + 1 */
        if (k + 1 < len) {
            c->labels[k + 1] = label[i];
            c->weak[k + 1] = weak[i];
            label[i] = NULL;
        }
    }
    c->labels[0] = root_name(db, c->ids[0]);
    *out = c;
    c = NULL;
done:
#undef PUSH
    for (size_t i = 0; label && i < n; i++)
        free(label[i]);
    free(label);
    free(node);
    free(next);
    free(weak);
    hd_hmap_free(&seen);
    hd_rows_free(st);
    hd_rows_free(self);
    hd_chain_free(c);
    return err;
}

/* ---- One chain per holder ------------------------------------------------------
 *
 * MAT's "paths to GC roots": not only the shortest chain, but the shortest
 * one through each object that holds `id` directly, shortest first, so that
 * a session kept by both a cache and a forgotten list shows both.
 */

static int
by_length(const void *a, const void *b)
{
    const hd_chain *x = *(hd_chain *const *)a, *y = *(hd_chain *const *)b;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* Appends the hop holder -> id (label, weak) to c. */
static int
chain_extend(hd_chain *c, int64_t id, const char *label, int weak)
{
    int64_t *ids = realloc(c->ids, (c->n + 1) * sizeof(*ids));
    if (ids)
        c->ids = ids;
    char **labels = realloc(c->labels, (c->n + 1) * sizeof(*labels));
    if (labels)
        c->labels = labels;
    int *w = realloc(c->weak, (c->n + 1) * sizeof(*w));
    if (w)
        c->weak = w;
    if (!ids || !labels || !w)
        return hd_error_set(HD_ENOMEM, "out of memory (chains)");
    c->ids[c->n] = id;
    c->labels[c->n] = label ? strdup(label) : NULL;
    c->weak[c->n] = weak;
    c->n++;
    return 0;
}

int
hd_refchain_all(hd_chain ***out, size_t *n_out, hd_db *db, int64_t id,
                size_t max, const hd_chain_opts *opts)
{
    hd_rows *r = NULL;
    hd_chain **all = NULL, *c = NULL;
    size_t n = 0, cap = 0;
    char num[32];
    int err;
    *out = NULL;
    *n_out = 0;
    snprintf(num, sizeof(num), "%" PRId64, id);
    const char *p[1] = {num};
    /* a root is its own chain */
    if ((err = hd_refchain_find(&c, db, id, opts)) < 0)
        return err;
    if (c->n == 1) {
        all = malloc(sizeof(*all));
        if (all == NULL) {
            hd_chain_free(c);
            return hd_error_set(HD_ENOMEM, "out of memory (chains)");
        }
        all[0] = c;
        *out = all;
        *n_out = 1;
        return 0;
    }
    hd_chain_free(c);
    c = NULL;
    if ((err = hd_query(&r, db, "SELECT src, min(label), min(kind = 'weak') "
                        "FROM refs WHERE dst = ?1 AND src != ?1 GROUP BY src",
                        1, p)) < 0)
        return err;
    while ((err = hd_rows_next(r)) == 1) {
        int weak = (int)hd_rows_int(r, 2);
        if (weak && !(opts && opts->weak))
            continue;
        if (hd_refchain_find(&c, db, hd_rows_int(r, 0), opts) < 0) {
            hd_error_clear();
            continue; /* a holder no root reaches (garbage) or excluded */
        }
        if ((err = chain_extend(c, id, hd_rows_text(r, 1), weak)) < 0)
            break;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            hd_chain **a = realloc(all, nc * sizeof(*a));
            if (a == NULL) {
                err = hd_error_set(HD_ENOMEM, "out of memory (chains)");
                break;
            }
            all = a;
            cap = nc;
        }
        all[n++] = c;
        c = NULL;
    }
    hd_rows_free(r);
    hd_chain_free(c);
    if (err < 0) {
        for (size_t i = 0; i < n; i++)
            hd_chain_free(all[i]);
        free(all);
        return err;
    }
    qsort(all, n, sizeof(*all), by_length);
    for (size_t i = max; i < n; i++)
        hd_chain_free(all[i]);
    *out = all;
    *n_out = n < max ? n : max;
    return 0;
}
