/* heapdig — MIT licence.
 *
 * query/query.h: the query side: a loaded database read back (hd_db,
 * hd_rows), and what is made from it: chains, suspects, diff, pictures,
 * the report.  It depends on base/ only, never on the heap model.
 */
#ifndef HEAPDIG_QUERY_QUERY_H
#define HEAPDIG_QUERY_QUERY_H

#include "base/base.h"

/* Checks that database `schema` ("main", or an attached alias) of d is one
 * a load finished, of HD_SCHEMA_VERSION, with heapdig's own definitions. */
int hd__db_check(hd_db *d, const char *schema, const char *path);


/* ---- html.c: a growing buffer; text escaped for HTML and inline JSON ---- */

typedef struct hd_buf {
    char *p;       /* NUL-terminated */
    size_t n, cap;
    int oom;       /* a growth failed: the content is incomplete */
} hd_buf;
void hd_buf_put(hd_buf *b, const char *s, size_t n);
void hd_buf_puts(hd_buf *b, const char *s);
void hd_buf_printf(hd_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void hd_buf_free(hd_buf *b);
/* s (n bytes; mode HD_TEXT_PLAIN or HD_TEXT_RENDERED) as HTML text, safe in
 * element content and in quoted attributes. */
void hd_html_text(hd_buf *b, const char *s, size_t n, int mode,
                  size_t max_chars);
/* s as a JSON string literal safe inside a <script> element; NULL: null. */
void hd_json_str(hd_buf *b, const char *s, size_t n, int mode,
                 size_t max_chars);

/* ---- report_tree.c: the report's bounded dominator tree ---------------------- */

/* Appends the tree as nested <details> to html and as "nodes" and "objects"
 * members to json; the suspects' subtrees are opened first. */
int hd__report_tree(hd_buf *html, hd_buf *json, hd_db *db, int64_t total,
                    int max_nodes, int max_children, const int64_t *suspects,
                    size_t n_suspects);

/* ---- picture.c / render.c: what a graph shows, and drawing it ----------- */

enum hd_pic_kind {
    HD_PIC_NORMAL,
    HD_PIC_TARGET,  /* the object asked about */
    HD_PIC_ROOT,    /* a root: named, held from outside, immortal */
    HD_PIC_GARBAGE, /* unreachable */
    HD_PIC_SUMMARY  /* "... N more" */
};

typedef struct hd_pic_node {
    int64_t id;        /* objects.id, or -1 for a summary node */
    int kind;          /* enum hd_pic_kind */
    char *type;        /* type name (summary: the text) */
    char *value;       /* short value or NULL */
    char *note;        /* root name, "held from outside", or NULL */
    int64_t address, size, retained;
    int is_type;       /* a type or module: drawn, not expanded by --refs */
    int level;         /* steps from the object the picture is about */
} hd_pic_node;

typedef struct hd_pic_edge {
    size_t src, dst;   /* node indices */
    char *label;       /* reference label or NULL */
    int weak;
    int dominates;     /* a dominator-tree edge, not a reference */
} hd_pic_edge;

typedef struct hd_picture {
    hd_pic_node *nodes;
    size_t n_nodes, cap_nodes;
    hd_pic_edge *edges;
    size_t n_edges, cap_edges;
    char title[256];
} hd_picture;

/* Chooses the nodes and edges of a picture (bounded by opts). */
int hd_picture__select(hd_picture *pic, hd_db *db, int64_t id,
                       const hd_graph_opts *opts);
void hd_picture__dispose(hd_picture *pic);
/* Draws a selected picture with Graphviz (render.c). */
int hd_render__draw(const hd_picture *pic, const char *format,
                    const char *path);

#endif /* HEAPDIG_QUERY_QUERY_H */
