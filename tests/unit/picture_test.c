/* heapdig — MIT licence.
 *
 * picture_test.c: what each of the five pictures selects, on the real
 * fixture dump (HD_TEST_DUMP), before Graphviz draws anything: a picture
 * never holds more than max_nodes real nodes (the rest summed up in
 * "... N more" nodes), every edge joins two of its nodes, the object asked
 * about is the one target, a path is a chain from a root, and a dot file
 * drawn from it holds every node.
 */
#include "query/query.h"
#include "harness.h"
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static hd_db *db;
static char dot_path[4200];

/* The first id a query answers, or -1. */
static int64_t
one(const char *sql)
{
    hd_rows *r = NULL;
    int64_t v = -1;
    if (hd_query(&r, db, sql, 0, NULL) == 0 && hd_rows_next(r) == 1)
        v = hd_rows_int(r, 0);
    hd_rows_free(r);
    return v;
}

/* The shape every picture keeps; returns its real (not summary) nodes. */
static size_t
check_shape(const hd_picture *p, int64_t id, int max_nodes)
{
    size_t real = 0, targets = 0;
    for (size_t i = 0; i < p->n_nodes; i++) {
        const hd_pic_node *n = &p->nodes[i];
        if (n->kind == HD_PIC_SUMMARY) {
            CHECK(n->id == -1 && n->type && strstr(n->type, "more"));
            continue;
        }
        real++;
        CHECK(n->id > 0);
        if (n->kind == HD_PIC_TARGET) {
            targets++;
            CHECK_EQ(n->id, id);
        }
    }
    CHECK(real <= (size_t)max_nodes);
    CHECK_EQ(targets, 1);
    for (size_t i = 0; i < p->n_edges; i++)
        CHECK(p->edges[i].src < p->n_nodes && p->edges[i].dst < p->n_nodes);
    return real;
}

static int
select_picture(hd_picture *p, int64_t id, hd_graph_mode mode, int max_nodes)
{
    hd_graph_opts o;
    memset(&o, 0, sizeof(o));
    memset(p, 0, sizeof(*p));
    o.mode = mode;
    o.max_nodes = max_nodes;
    int err = hd_picture__select(p, db, id, &o);
    CHECK_EQ(err, 0);
    return err;
}

static void
test_picture__refs_are_bounded_and_summed_up(void)
{
    /* the list of 3,000 Items: far more referents than nodes */
    int64_t items = one("SELECT o.id FROM objects o JOIN types t ON t.id = "
                        "o.type WHERE t.name = 'list' AND o.length = 3000");
    hd_picture p;
    CHECK(items > 0);
    if (items <= 0 || select_picture(&p, items, HD_GRAPH_REFS, 20) < 0)
        return;
    CHECK(check_shape(&p, items, 20) > 1);
    int more = 0;
    for (size_t i = 0; i < p.n_nodes; i++)
        more += p.nodes[i].kind == HD_PIC_SUMMARY;
    CHECK(more >= 1); /* the other items, in a "... N more" node */
    hd_picture__dispose(&p);
}

static void
test_picture__backrefs_end_at_roots(void)
{
    int64_t item = one("SELECT o.id FROM objects o JOIN types t ON t.id = "
                       "o.type WHERE t.name = 'Item' ORDER BY o.id LIMIT 1");
    hd_picture p;
    if (item <= 0 || select_picture(&p, item, HD_GRAPH_BACKREFS, 30) < 0)
        return;
    check_shape(&p, item, 30);
    int into_target = 0;
    for (size_t i = 0; i < p.n_edges; i++)
        into_target += p.nodes[p.edges[i].dst].id == item;
    CHECK(into_target >= 2); /* the items list, the index dict, the deque */
    hd_picture__dispose(&p);
}

static void
test_picture__path_is_a_chain_from_a_root(void)
{
    int64_t item = one("SELECT o.id FROM objects o JOIN types t ON t.id = "
                       "o.type WHERE t.name = 'Item' ORDER BY o.id DESC "
                       "LIMIT 1");
    hd_picture p;
    if (item <= 0 || select_picture(&p, item, HD_GRAPH_PATH, 30) < 0)
        return;
    size_t real = check_shape(&p, item, 30);
    CHECK(real >= 2);
    CHECK_EQ(p.n_edges, p.n_nodes - 1);
    CHECK(p.n_nodes > 0 && p.nodes[0].kind == HD_PIC_ROOT);
    CHECK(p.nodes[p.n_nodes - 1].id == item);
    hd_picture__dispose(&p);
}

static void
test_picture__dominated_and_cycle_are_bounded(void)
{
    int64_t blobs = one("SELECT o.id FROM objects o JOIN types t ON t.id = "
                        "o.type WHERE t.name = 'list' AND o.length = 6000");
    int64_t cls = one("SELECT o.id FROM objects o JOIN types t ON t.id = "
                      "o.type WHERE o.value = 'Item' AND o.flags & 8 AND "
                      "o.scc IS NOT NULL");
    hd_picture p;
    if (blobs > 0 && select_picture(&p, blobs, HD_GRAPH_DOMINATED, 10) == 0) {
        check_shape(&p, blobs, 10);
        hd_picture__dispose(&p);
    }
    CHECK(blobs > 0);
    CHECK(cls > 0); /* the class is on the module's cycle */
    if (cls > 0 && select_picture(&p, cls, HD_GRAPH_CYCLE, 12) == 0) {
        CHECK(check_shape(&p, cls, 12) >= 2);
        hd_picture__dispose(&p);
    }
}

static void
test_picture__dot_holds_every_node(void)
{
    int64_t items = one("SELECT o.id FROM objects o JOIN types t ON t.id = "
                        "o.type WHERE t.name = 'list' AND o.length = 3000");
    hd_picture p;
    if (items <= 0 || select_picture(&p, items, HD_GRAPH_REFS, 15) < 0)
        return;
    CHECK_EQ(hd_render__draw(&p, "dot", dot_path), 0);
    FILE *f = fopen(dot_path, "r");
    CHECK(f != NULL);
    if (f) {
        char line[8192];
        size_t nodes = 0;
        int digraph = 0;
        while (fgets(line, sizeof(line), f)) {
            digraph |= strstr(line, "digraph") != NULL;
            /* a node statement: "\tn12\t[..." (edges read "n1 -> n2") */
            unsigned k;
            char c;
            nodes += sscanf(line, "\tn%u\t%c", &k, &c) == 2 && c == '[';
        }
        fclose(f);
        CHECK(digraph);
        CHECK_EQ(nodes, p.n_nodes);
    }
    unlink(dot_path);
    hd_picture__dispose(&p);
}

int
main(int argc, char **argv)
{
    static const hd_test_case cases[] = {
        TEST(test_picture__refs_are_bounded_and_summed_up),
        TEST(test_picture__backrefs_end_at_roots),
        TEST(test_picture__path_is_a_chain_from_a_root),
        TEST(test_picture__dominated_and_cycle_are_bounded),
        TEST(test_picture__dot_holds_every_node),
    };
    char path[4096];
    if (fixture_open(&db, path, sizeof(path), "picture_test"))
        return 1;
    snprintf(dot_path, sizeof(dot_path), "%s.dot", path);
    int rc = hd_test_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
    fixture_close(db, path);
    return rc;
}
