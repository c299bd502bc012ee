/* heapdig — MIT licence.
 *
 * render.c: drawing pictures with Graphviz, the only file that includes
 * gvc.h.  The graph is built with cgraph (agopen/agnode/agedge, attributes
 * set with agsafeset: no DOT text is written by hand) and laid out with the
 * dot engine and rendered by gvc (gvLayout, gvRenderFilename) to svg, png,
 * pdf or dot, under a temporary name renamed when complete.
 *
 * Everything shown comes from the heap and is untrusted: values and labels
 * are cut to a readable length, invalid UTF-8 becomes U+FFFD, control
 * characters become '?', backslashes are doubled (Graphviz reads \N, \G,
 * \l ... in labels) and '&' is written as &amp; (Graphviz decodes HTML
 * entities in every label, so "&amp;" from the heap would show as "&").
 * Graphviz itself quotes DOT strings and escapes XML in SVG.  Graphviz's
 * own messages are captured into hd_error_last().
 */
#include "query/query.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gvc.h> /* cgraph + gvc: the whole Graphviz fence */
#include <graphviz_version.h>

/* gvRenderData's length: unsigned int up to Graphviz 2.x, size_t since. */
#ifdef GRAPHVIZ_VERSION_MAJOR
typedef size_t gv_len;
#else
typedef unsigned int gv_len;
#endif

#define MAX_TEXT 40 /* characters of a value or label shown */

static _Thread_local char gv_messages[512];

static int
capture_gv_error(char *msg)
{
    size_t n = strlen(gv_messages);
    if (n + 2 < sizeof(gv_messages))
        snprintf(gv_messages + n, sizeof(gv_messages) - n, "%s", msg);
    return 0;
}

/* Writes s as a Graphviz label may hold it: heap text escaped by the one
 * rule (hd_text_escape, at most max_chars characters), then its backslashes
 * doubled (Graphviz reads \n, \l, \N in labels) and & as an entity (it
 * decodes entities). */
static size_t
sanitize_mode(char *out, size_t cap, const char *s, int max_chars, int mode)
{
    char esc[4 * 3 * MAX_TEXT + 16];
    size_t k = 0;
    hd_text_escape(esc, sizeof(esc), s, strlen(s), mode, (size_t)max_chars);
    size_t whole = 0; /* where the last whole character ended */
    const char *p = esc;
    for (; *p && k + 6 < cap; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80)
            whole = k;
        if (*p == '\\') {
            out[k++] = '\\';
            out[k++] = '\\';
        } else if (*p == '&') {
            memcpy(out + k, "&amp;", 5);
            k += 5;
        } else
            out[k++] = *p;
    }
    if (*p && ((unsigned char)*p & 0xC0) == 0x80)
        k = whole; /* out is full: never leave half a character */
    out[k] = 0;
    return k;
}

static size_t
sanitize_n(char *out, size_t cap, const char *s, int max_chars)
{
    return sanitize_mode(out, cap, s, max_chars, HD_TEXT_PLAIN);
}

static size_t
sanitize(char *out, size_t cap, const char *s)
{
    return sanitize_n(out, cap, s, MAX_TEXT);
}

static void
human(char *buf, size_t cap, int64_t b)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, cap, "%" PRId64 " B", b);
    else
        snprintf(buf, cap, "%.1f %s", v, u[i]);
}

/* The label of a node: type and address, value, sizes, root note; lines
 * joined with Graphviz's "\n". */
static void
node_label(char *out, size_t cap, const hd_pic_node *n)
{
    char a[256], b[64], c[64];
    size_t k = 0;
    if (n->kind == HD_PIC_SUMMARY) {
        sanitize(out, cap, n->type ? n->type : "...");
        return;
    }
    sanitize(a, sizeof(a), n->type ? n->type : "?");
    k += (size_t)snprintf(out + k, cap - k, "%s 0x%" PRIx64, a,
                          (uint64_t)n->address);
    if (n->value) {
        sanitize(a, sizeof(a), n->value);
        k += (size_t)snprintf(out + k, cap - k, "\\n%s", a);
    }
    human(b, sizeof(b), n->size);
    human(c, sizeof(c), n->retained);
    k += (size_t)snprintf(out + k, cap - k, "\\n%s, retains %s", b, c);
    if (n->note && k < cap) {
        sanitize_n(a, sizeof(a), n->note, 2 * MAX_TEXT);
        snprintf(out + k, cap - k, "\\n%s", a);
    }
}

static void
set(void *obj, const char *name, const char *value)
{
    agsafeset(obj, (char *)name, (char *)value, (char *)"");
}

static const char *
format_of(const char *path, const char *format)
{
    if (format)
        return format;
    /* the file name's extension, not a dot in a directory's name */
    const char *base = strrchr(path, '/');
    const char *dot = strrchr(base ? base + 1 : path, '.');
    return dot ? dot + 1 : "svg";
}

int
hd_render__draw(const hd_picture *pic, const char *format, const char *path)
{
    GVC_t *gvc = NULL;
    Agraph_t *g = NULL;
    Agnode_t **nodes = NULL;
    char *data = NULL, label[1024], name[32];
    gv_len data_len = 0;
    const char *fmt = format_of(path, format);
    int err = 0, laid_out = 0;

    static const char *known[] = {"svg", "png", "pdf", "dot"};
    int ok = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok |= !strcmp(fmt, known[i]);
    if (!ok)
        return hd_error_set(HD_EINVAL, "unknown picture format '%s' (svg, "
                            "png, pdf or dot)", fmt);
    gv_messages[0] = 0;
    agseterrf(capture_gv_error);
    agseterr(AGERR);
    if ((gvc = gvContext()) == NULL ||
        (g = agopen((char *)"heapdig", Agdirected, NULL)) == NULL) {
        err = hd_error_set(HD_EGRAPH, "Graphviz: cannot create a graph: %s",
                           gv_messages);
        goto done;
    }
    set(g, "rankdir", "TB"); /* holders above what they hold */
    set(g, "fontname", "Helvetica");
    set(g, "fontsize", "11");
    set(g, "labelloc", "t");
    sanitize_n(label, sizeof(label), pic->title, 3 * MAX_TEXT);
    set(g, "label", label);
    nodes = calloc(pic->n_nodes ? pic->n_nodes : 1, sizeof(*nodes));
    if (nodes == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < pic->n_nodes; i++) {
        const hd_pic_node *n = &pic->nodes[i];
        static const char *fill[] = {"#f5f5f5", "#ffd54f", "#90caf9",
                                     "#ef9a9a", "#e0e0e0"};
        snprintf(name, sizeof(name), "n%zu", i);
        nodes[i] = agnode(g, name, 1);
        node_label(label, sizeof(label), n);
        set(nodes[i], "label", label);
        set(nodes[i], "shape", n->kind == HD_PIC_SUMMARY ? "note" : "box");
        set(nodes[i], "style", "filled,rounded");
        set(nodes[i], "fillcolor", fill[n->kind]);
        set(nodes[i], "fontname", "Helvetica");
        set(nodes[i], "fontsize", "10");
        if (n->kind == HD_PIC_TARGET)
            set(nodes[i], "penwidth", "2.5");
    }
    for (size_t i = 0; i < pic->n_edges; i++) {
        const hd_pic_edge *e = &pic->edges[i];
        Agedge_t *ge = agedge(g, nodes[e->src], nodes[e->dst], NULL, 1);
        if (e->label) {
            /* a label is text already rendered (['a\\nb'] holds the
             * backslash itself): escaped again it would show two */
            sanitize_mode(label, sizeof(label), e->label, MAX_TEXT,
                          HD_TEXT_RENDERED);
            set(ge, "label", label);
        }
        set(ge, "fontname", "Helvetica");
        set(ge, "fontsize", "9");
        if (e->weak) {
            set(ge, "style", "dashed");
            set(ge, "color", "#888888");
        } else if (e->dominates) {
            set(ge, "style", "dotted");
            set(ge, "label", "dominates");
        }
    }
    if (gvLayout(gvc, g, "dot") != 0) {
        err = hd_error_set(HD_EGRAPH, "Graphviz layout failed: %s",
                           gv_messages);
        goto done;
    }
    laid_out = 1;
    /* Rendered into memory and written here: Graphviz's own file output
     * exits the process when the disk is full. */
    if (gvRenderData(gvc, g, fmt, &data, &data_len) != 0 || data == NULL) {
        err = hd_error_set(HD_EGRAPH, "Graphviz cannot render %s: %s", fmt,
                           gv_messages[0] ? gv_messages
                                          : "renderer not installed");
        goto done;
    }
    err = hd__write_file_atomic(path, data, (size_t)data_len);
done:
    if (data)
        gvFreeRenderData(data);
    if (laid_out)
        gvFreeLayout(gvc, g);
    if (g)
        agclose(g);
    if (gvc)
        gvFreeContext(gvc);
    free(nodes);
    return err;
}

int
hd_graph_render(hd_db *db, int64_t id, const hd_graph_opts *opts,
                const char *path, size_t *n_nodes_out)
{
    hd_picture pic;
    int err = hd_picture__select(&pic, db, id, opts);
    if (err == 0)
        err = hd_render__draw(&pic, opts->format, path);
    if (n_nodes_out)
        *n_nodes_out = pic.n_nodes;
    hd_picture__dispose(&pic);
    return err;
}
