/* heapdig — MIT licence.
 *
 * paths.c: how each object is reached: the BFS from the roots, and the
 * chain signatures that diff compares across dumps.
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
#include "analyze/analyze.h"
#include "heapdig/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bfs_from(const hd_heap *h, hd_bfs *b, uint64_t *headp);

void
hd_refchain__bfs_free(hd_bfs *b)
{
    free(b->reachable);
    free(b->depth);
    free(b->parent);
    free(b->parent_edge);
    free(b->order);
    memset(b, 0, sizeof(*b));
}

int
hd_refchain__bfs(const hd_heap *h, const hd_roots *roots, hd_bfs *b)
{
    uint64_t n = h->n_objects, head = 0;
    memset(b, 0, sizeof(*b));
    b->order = malloc(((size_t)n + 1) * sizeof(uint32_t));
    b->reachable = calloc((size_t)n + 1, 1);
    b->depth = malloc(((size_t)n + 1) * sizeof(uint32_t));
    b->parent = malloc(((size_t)n + 1) * sizeof(uint32_t));
    b->parent_edge = malloc(((size_t)n + 1) * sizeof(uint64_t));
    if (!b->order || !b->reachable || !b->depth || !b->parent ||
        !b->parent_edge) {
        hd_refchain__bfs_free(b);
        return hd_error_set(HD_ENOMEM, "out of memory (BFS)");
    }
    for (uint64_t o = 0; o < n; o++)
        b->depth[o] = b->parent[o] = HD_NONE;
    uint64_t phase_end[3] = {roots->n_module, roots->n_named,
                             roots->n_order};
    for (int phase = 0, i = 0; phase < 3; phase++) {
        for (; (uint64_t)i < phase_end[phase]; i++) {
            uint32_t r = roots->order[i];
            if (b->reachable[r])
                continue; /* already explained by an earlier kind of root */
            b->reachable[r] = 1;
            b->depth[r] = 0;
            b->order[b->n++] = r;
        }
        bfs_from(h, b, &head);
    }
    return 0;
}

/* The queue is b->order[*headp .. b->n). */
static void
bfs_from(const hd_heap *h, hd_bfs *b, uint64_t *headp)
{
    uint64_t head = *headp;
    while (head < b->n) {
        uint32_t v = b->order[head++];
        for (uint64_t e = h->edge_start[v]; e < h->edge_start[v + 1]; e++) {
            uint32_t w = h->edge_dst[e];
            if ((h->edge_word[e] & HD_EDGE_WEAK) || b->reachable[w])
                continue;
            b->reachable[w] = 1;
            b->depth[w] = b->depth[v] + 1;
            b->parent[w] = v;
            b->parent_edge[w] = e;
            b->order[b->n++] = w;
        }
    }
    *headp = head;
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
    uint32_t n;
    size_t cap;
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
    if (hd_grow(&m->sigs, &m->cap, (size_t)m->n + 2, sizeof(*m->sigs)) < 0)
        return 0;
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
sig_step(sigmap *m, const hd_heap *h, const hd_bfs *b, uint32_t o,
         uint32_t parent, const char *step)
{
    uint32_t up[2 * SIG_MAX_PERIOD + 1]; /* o's BFS ancestors; up[0] = o */
    int n_up = 1;
    up[0] = o;
    while (n_up <= 2 * SIG_MAX_PERIOD && b->parent[up[n_up - 1]] != HD_NONE) {
        up[n_up] = b->parent[up[n_up - 1]];
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
sig_steps(const sigmap *m, hd_signatures *out)
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
        out->base[i] = base;
        out->hash[i] = sig_hash(out->hash[base], add);
        if ((out->step[i] = strdup(add)) == NULL)
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
            snprintf(buf, cap, "%s", strstr(name, " context")
                                         ? "thread context" : "thread dict");
    } else if (kind == HD_ROOT_INTERP) {
        /* "atexit callback #0 (logging.shutdown)" -> without "#0 " */
        const char *hash = strchr(name, '#'), *sp = hash ? strchr(hash, ' ')
                                                         : NULL;
        if (hash && sp)
            snprintf(buf, cap, "%.*s%s", (int)(hash - name), name, sp + 1);
        else
            snprintf(buf, cap, "%s", name);
    } else
        snprintf(buf, cap, "<%s>", tn);
}

/* The step from an object's BFS parent, generalised; its namespace flag. */
static void
sig_step_label(const hd_heap *h, const hd_bfs *b, uint32_t o,
               const uint8_t *ns, int is_dict, const char *tn, char *label,
               size_t cap, uint8_t *ns_out)
{
    char buf[600];
    uint32_t p = b->parent[o];
    uint64_t e = b->parent_edge[o];
    uint8_t w = h->edge_word[e];
    int kind = w >> 1;
    const char *l;
    if (kind == HD_LBL_INDEX ||
        ((kind == HD_LBL_KEY_STR || kind == HD_LBL_KEY_INT ||
          kind == HD_LBL_KEY_OTHER) && !ns[p]))
        l = "[*]";
    else if ((l = hd_heap__label(h, w, hd_heap__payload(h, e), buf,
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
hd_refchain__signatures(const hd_heap *h, const hd_bfs *b,
                        hd_signatures *out)
{
    uint64_t n = h->n_objects;
    sigmap m = {0};
    uint8_t *ns = calloc((size_t)n + 1, 1);       /* keeps its keys */
    int8_t *root_kind = calloc((size_t)n + 1, 1);
    uint32_t *root_name = calloc((size_t)n + 1, sizeof(uint32_t));
    char label[SIG_MAX_TEXT + 16];
    int err = 0;

    memset(out, 0, sizeof(*out));

    out->path = calloc((size_t)n + 1, sizeof(uint32_t));
    m.cap = 1024;
    m.sigs = calloc(m.cap, sizeof(sig));
    if (!ns || !root_kind || !root_name || !out->path || !m.sigs)
        goto nomem;
    for (uint64_t i = h->n_roots; h->root_kind && i-- > 0;) {
        /* first named root wins */
        root_kind[h->root_obj[i]] = (int8_t)h->root_kind[i];
        root_name[h->root_obj[i]] = h->root_name[i];
    }
    for (uint64_t k = 0; k < b->n; k++) {
        uint32_t o = b->order[k], id;
        const char *tn = h->type_name ? hd_heap__str(h, h->type_name[h->type[o]],
                                                     NULL)
                                      : "object"; /* a graph with no names */
        int is_dict = !strcmp(tn, "dict");
        if (b->parent[o] == HD_NONE) {
            root_signature(h, o, hd_heap__str(h, root_name[o], NULL),
                           root_kind[o], label, sizeof(label));
            ns[o] = is_dict && root_kind[o] != 0;
            id = sig_intern(&m, 0, label);
        } else {
            uint32_t p = b->parent[o];
            sig_step_label(h, b, o, ns, is_dict, tn, label, sizeof(label), &ns[o]);
            id = sig_step(&m, h, b, o, out->path[p], label);
        }
        if (id == 0)
            goto nomem;
        out->path[o] = id;
    }
    out->step = calloc((size_t)m.n + 1, sizeof(char *));
    out->base = calloc((size_t)m.n + 1, sizeof(uint32_t));
    out->hash = calloc((size_t)m.n + 1, sizeof(uint64_t));
    out->n = m.n; /* the steps are the heap's, made or not */
    if (!out->step || !out->base || !out->hash || sig_steps(&m, out) < 0)
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
    if (err < 0)
        hd_refchain__signatures_free(out);
    return err;
}

void
hd_refchain__signatures_free(hd_signatures *s)
{
    for (uint32_t i = 1; s->step && i <= s->n; i++)
        free(s->step[i]);
    free(s->step);
    free(s->path);
    free(s->base);
    free(s->hash);
    memset(s, 0, sizeof(*s));
}
