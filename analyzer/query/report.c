/* heapdig — MIT licence.
 *
 * report.c: `heapdig report`: one self-contained HTML page that shows the
 * leak (heapdig.h: hd_report_write).
 *
 * The facts are in the HTML itself, so the page reads with scripts off and
 * in a mail client's preview: the overview, the suspects (the library's
 * rule, hd_suspects_find, the same as `heapdig suspects`) with their chains
 * drawn as boxes, the dominator tree as nested <details>, the types and
 * the garbage.  The script (report/report.js, inline) adds the picture of
 * retained sizes, the retainers of a selected object and sorting, from the
 * JSON the page carries.  Nothing is fetched: no CDN, no font, no image;
 * the page's Content-Security-Policy forbids every request.  Every string
 * from the heap goes through html.c's escaping.
 */
#include "query/query.h"
#include "heapdig/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char hd_report_css[], hd_report_js[]; /* generated */

typedef struct page {
    hd_db *db;
    hd_buf h;    /* the HTML */
    hd_buf j;    /* the JSON data */
    int64_t total;
    const hd_report_opts *o;
    int64_t suspect_ids[8];
    size_t n_suspects;
} page;

static void
text(hd_buf *b, const char *s, size_t max_chars)
{
    hd_html_text(b, s, s ? strlen(s) : 0, HD_TEXT_PLAIN, max_chars);
}

static void
label(hd_buf *b, const char *s)
{
    hd_html_text(b, s, s ? strlen(s) : 0, HD_TEXT_RENDERED, 200);
}

/* A one-row query's text column (NULL if none), copied into buf. */
static const char *
meta_text(page *p, const char *key, char *buf, size_t cap)
{
    hd_rows *r = NULL;
    const char *a[1] = {key};
    const char *v = NULL;
    if (hd_query(&r, p->db, "SELECT value FROM meta WHERE key = ?1", 1, a) == 0
        && hd_rows_next(r) == 1 && hd_rows_text(r, 0)) {
        snprintf(buf, cap, "%s", hd_rows_text(r, 0));
        v = buf;
    }
    hd_rows_free(r);
    return v;
}

/* The dump's argv (a JSON list of strings) as a command line, each word
 * quoted as a shell would need it; the JSON itself if it is anything else. */
static const char *
command_line(char *out, size_t cap, const char *json)
{
    const char *q = json;
    size_t k = 0;
    if (*q++ != '[')
        return json;
    while (*q == ' ')
        q++;
    while (*q == '"' && k + 8 < cap) {
        char word[512];
        size_t w = 0;
        int plain = 1;
        for (q++; *q && *q != '"' && w + 2 < sizeof(word); q++) {
            char c = *q;
            if (c == '\\') {
                c = *++q;
                if (c == 'n')
                    c = '\n';
                else if (c == 't')
                    c = '\t';
                else if (c != '"' && c != '\\' && c != '/')
                    return json; /* \uXXXX and the like: show the JSON */
            }
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || strchr("/._-=:,+@%", c)))
                plain = 0;
            word[w++] = c;
        }
        if (*q++ != '"')
            return json;
        word[w] = 0;
        k += (size_t)snprintf(out + k, cap - k, "%s%s%s%s", k ? " " : "",
                              plain && w ? "" : "'", word,
                              plain && w ? "" : "'");
        if (k >= cap || (!plain && strchr(word, '\'')))
            return json;
        while (*q == ',' || *q == ' ')
            q++;
    }
    return *q == ']' ? out : json;
}

static const char *
bytes(char *buf, size_t cap, int64_t n)
{
    return hd_bytes_str(buf, cap, (double)n);
}

/* "+1.5 MiB", "−320 B": a growth. */
static const char *
signed_bytes(char *buf, size_t cap, int64_t n)
{
    char tmp[32];
    snprintf(buf, cap, "%s%s", n < 0 ? "−" : "+",
             hd_bytes_str(tmp, sizeof(tmp), (double)(n < 0 ? -n : n)));
    return buf;
}

static double
share(const page *p, int64_t n)
{
    return 100.0 * (double)n / (double)(p->total ? p->total : 1);
}

/* ---- Overview ---------------------------------------------------------------- */

/* "Is it even Python objects?": the process's RSS split into what the
 * objects, the allocators' free space and nothing explain (hd_memory). */
static int
memory(page *p)
{
    hd_buf *b = &p->h;
    hd_memory m;
    hd_rows *r = NULL;
    char s1[32];
    int err;
    if ((err = hd_memory_read(p->db, &m)) < 0)
        return err;
    if (!m.present)
        return 0;
    hd_memory_share parts[HD_MEMORY_SHARES];
    hd_memory_shares(&m, parts);
    double rss = (double)(m.rss > 0 ? m.rss : 1);
    hd_buf_printf(b, "<h3 id=\"memory\">The process's memory: RSS %s when "
                  "the dump began</h3><div class=\"split mem\">",
                  bytes(s1, sizeof(s1), m.rss));
    for (size_t i = 0; i < HD_MEMORY_SHARES; i++)
        if (parts[i].bytes > 0)
            hd_buf_printf(b, "<span class=\"m-%s\" style=\"width:%.1f%%\" "
                          "title=\"%s\"></span>", parts[i].part,
                          100.0 * (double)parts[i].bytes / rss, parts[i].what);
    hd_buf_puts(b, "</div><table class=\"memory\"><tbody>");
    for (size_t i = 0; i < HD_MEMORY_SHARES; i++)
        if (parts[i].bytes >= 0)
            hd_buf_printf(b, "<tr><td><span class=\"key m-%s\"></span>%s%s"
                          "</td><td class=\"n\">%s</td><td class=\"n\">"
                          "%.0f%%</td></tr>", parts[i].part, parts[i].what,
                          strcmp(parts[i].part, "unaccounted") ? ""
                          : " (C extensions, native buffers, thread stacks, "
                            "memory-mapped files)",
                          bytes(s1, sizeof(s1), parts[i].bytes),
                          100.0 * (double)parts[i].bytes / rss);
    if (m.unaccounted_allocated > 0)
        hd_buf_printf(b, "<tr><td class=\"sub\">of it, handed out by the "
                      "allocators to C code</td><td class=\"n\">%s</td>"
                      "<td></td></tr>",
                      bytes(s1, sizeof(s1), m.unaccounted_allocated));
    hd_buf_puts(b, "</tbody></table>");
    if (hd_memory_advice(&m))
        hd_buf_printf(b, "<p class=\"advice\">%s</p>", hd_memory_advice(&m));
    /* every figure the dumper read, with what it is */
    if ((err = hd_query(&r, p->db, "SELECT part, bytes, note FROM memory "
                        "ORDER BY rowid", 0, NULL)) < 0)
        return err;
    hd_buf_puts(b, "<details class=\"allmem\"><summary>All the figures"
                "</summary><table><thead><tr><th>part</th><th>bytes</th>"
                "<th>what it is</th></tr></thead><tbody>");
    while ((err = hd_rows_next(r)) == 1) {
        hd_buf_puts(b, "<tr><td><code>");
        text(b, hd_rows_text(r, 0), 64);
        hd_buf_printf(b, "</code></td><td class=\"n\">%s</td><td>",
                      bytes(s1, sizeof(s1), hd_rows_int(r, 1)));
        text(b, hd_rows_text(r, 2), 200);
        hd_buf_puts(b, "</td></tr>");
    }
    hd_rows_free(r);
    hd_buf_puts(b, "</tbody></table></details>");
    return err < 0 ? err : 0;
}

static int
overview(page *p)
{
    hd_buf *b = &p->h;
    hd_rows *r = NULL;
    char v[1024], s1[32], s2[32], c1[48], c2[48];
    int64_t live_n = 0, live_b = 0, junk_n = 0, junk_b = 0;
    int err;
    /* the load counted the garbage; a scan only for older databases */
    const char *sql = meta_text(p, "unreachable_size", v, sizeof(v))
        ? "SELECT 0, (SELECT value FROM meta WHERE key = 'unreachable'), "
          "(SELECT value FROM meta WHERE key = 'unreachable_size') UNION ALL "
          "SELECT 1, (SELECT value FROM meta WHERE key = 'objects') - (SELECT "
          "value FROM meta WHERE key = 'unreachable'), (SELECT value FROM meta"
          " WHERE key = 'total_size') - (SELECT value FROM meta WHERE key = "
          "'unreachable_size')"
        : "SELECT reachable, count(*), sum(size) FROM objects GROUP BY "
          "reachable";
    if ((err = hd_query(&r, p->db, sql, 0, NULL)) < 0)
        return err;
    while ((err = hd_rows_next(r)) == 1) {
        if (hd_rows_int(r, 0)) {
            live_n = hd_rows_int(r, 1);
            live_b = hd_rows_int(r, 2);
        } else {
            junk_n = hd_rows_int(r, 1);
            junk_b = hd_rows_int(r, 2);
        }
    }
    hd_rows_free(r);
    if (err < 0)
        return err;
    hd_buf_puts(b, "<section id=\"overview\"><h2>Overview</h2><dl class=\"facts\">");
    static const struct { const char *key, *name; } facts[] = {
        {"argv", "Command"}, {"python_version", "Python"}, {"pid", "Process"},
        {"time", "Dumped at"}, {"executable", "Executable"}};
    for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
        if (!meta_text(p, facts[i].key, v, sizeof(v)))
            continue;
        char cmd[1024];
        hd_buf_printf(b, "<dt>%s</dt><dd class=\"m-%s\">", facts[i].name,
                      facts[i].key);
        text(b, i == 0 ? command_line(cmd, sizeof(cmd), v) : v, 300);
        hd_buf_puts(b, "</dd>");
    }
    hd_buf_printf(b, "<dt>Objects</dt><dd>%s, %s, %s in all (their "
                  "<code>sys.getsizeof</code> sizes)</dd>",
                  hd_count_of(c1, sizeof(c1), live_n + junk_n, "object",
                              "objects"),
                  hd_count_of(c2, sizeof(c2), hd_meta_int(p->db, "refs"),
                              "reference", "references"),
                  bytes(s1, sizeof(s1), p->total));
    hd_buf_printf(b, "<dt>Alive</dt><dd>%s, %s (%.1f%%): reachable from a "
                  "root</dd>",
                  hd_count_of(c1, sizeof(c1), live_n, "object", "objects"),
                  bytes(s1, sizeof(s1), live_b), share(p, live_b));
    hd_buf_printf(b, "<dt>Garbage</dt><dd>%s, %s (%.1f%%): what "
                  "<code>gc.collect()</code> would free "
                  "(<a href=\"#garbage\">below</a>)</dd>",
                  hd_count_of(c1, sizeof(c1), junk_n, "object", "objects"),
                  bytes(s2, sizeof(s2), junk_b), share(p, junk_b));
    if (hd_meta_int(p->db, "truncated"))
        hd_buf_puts(b, "<dt>Warning</dt><dd class=\"warn\">the dump was cut "
                    "short: it shows only what was written before it ended"
                    "</dd>");
    hd_buf_printf(b, "</dl><div class=\"split\" title=\"alive vs garbage\">"
                  "<span class=\"alive\" style=\"width:%.1f%%\"></span>"
                  "<span class=\"junk\" style=\"width:%.1f%%\"></span></div>",
                  share(p, live_b), share(p, junk_b));
    if ((err = memory(p)) < 0)
        return err;
    hd_buf_puts(b, "</section>\n");
    return 0;
}

/* ---- Suspects ------------------------------------------------------------------ */

/* A chain drawn as boxes: each object (type and short value), the label it
 * is reached by on the arrow into it. */
static int
chain_boxes(page *p, hd_rows *desc, const hd_chain *c)
{
    hd_buf *b = &p->h;
    int err;
    hd_buf_puts(b, "<ol class=\"chain\">");
    for (size_t i = 0; i < c->n; i++) {
        int64_t a[1] = {c->ids[i]};
        if ((err = hd_rows_rerun(desc, 1, a)) < 0 ||
            (err = hd_rows_next(desc)) < 0)
            return err;
        hd_buf_puts(b, "<li>");
        if (i == 0 && c->labels[0] && c->labels[0][0]) {
            hd_buf_puts(b, "<span class=\"root\">root ");
            label(b, c->labels[0]);
            hd_buf_puts(b, "</span>");
        } else if (i > 0) {
            hd_buf_printf(b, "<span class=\"arrow%s\">", c->weak && c->weak[i]
                                                            ? " weak" : "");
            if (c->labels[i])
                label(b, c->labels[i]);
            else
                hd_buf_puts(b, "(no name)");
            hd_buf_puts(b, "</span>");
        }
        hd_buf_puts(b, "<span class=\"box\"><span class=\"ty\">");
        if (err == 1)
            text(b, hd_rows_text(desc, 0), 80);
        hd_buf_puts(b, "</span>");
        if (err == 1 && hd_rows_text(desc, 1)) {
            char v[256];
            hd_value_text(v, sizeof(v), hd_rows_text(desc, 1),
                          hd_rows_len(desc, 1), hd_rows_int(desc, 2), 50);
            hd_buf_puts(b, " <span class=\"val\">");
            hd_html_text(b, v, strlen(v), HD_TEXT_RENDERED, 0);
            hd_buf_puts(b, "</span>");
        }
        hd_buf_puts(b, "</span></li>");
    }
    hd_buf_puts(b, "</ol>");
    return 0;
}

static int
suspect_html(page *p, hd_rows *desc, const hd_suspect *x, size_t k)
{
    hd_buf *b = &p->h;
    hd_chain **more = NULL;
    size_t n_more = 0;
    char s1[32], s2[32], c1[32];
    int err = 0;
    int64_t a[1] = {x->id};
    const char *ty = "?";
    if (hd_rows_rerun(desc, 1, a) == 0 && hd_rows_next(desc) == 1 &&
        hd_rows_text(desc, 0))
        ty = hd_rows_text(desc, 0);
    hd_buf_printf(b, "<article class=\"suspect\" id=\"suspect-%zu\" "
                  "data-id=\"%" PRId64 "\"><h3>Suspect %zu: ", k + 1, x->id,
                  k + 1);
    if (x->name[0]) {
        hd_buf_puts(b, "<code class=\"name\">");
        label(b, x->name);
        hd_buf_puts(b, "</code>, ");
    }
    hd_buf_puts(b, "a <span class=\"ty\">");
    text(b, ty, 80);
    hd_buf_printf(b, "</span>, retains %s (%.1f%% of the heap)</h3>",
                  bytes(s1, sizeof(s1), x->retained), x->percent);
    hd_buf_printf(b, "<div class=\"split\"><span class=\"hot\" style=\"width:"
                  "%.1f%%\"></span></div>", x->percent);
    if (x->python) {
        hd_buf_puts(b, "<p>In the process it is <code class=\"python\">");
        label(b, x->python);
        hd_buf_puts(b, "</code></p>");
    }
    if (x->chain) {
        hd_buf_puts(b, "<p>Why it is alive, the shortest chain from a root:"
                    "</p>");
        if ((err = chain_boxes(p, desc, x->chain)) < 0)
            return err;
    } else
        hd_buf_puts(b, "<p>No root reaches it.</p>");
    if (x->n_holds) {
        hd_buf_puts(b, "<table class=\"holds\"><thead><tr><th>It holds</th>"
                    "<th>type</th><th>as</th><th>retaining</th></tr></thead>"
                    "<tbody>");
        for (size_t i = 0; i < x->n_holds; i++) {
            const hd_suspect_hold *h = &x->holds[i];
            hd_buf_printf(b, "<tr><td class=\"n\">%s</td><td class=\"ty\">",
                          hd_count_str(c1, sizeof(c1), h->count));
            text(b, h->type, 80);
            hd_buf_puts(b, "</td><td>");
            if (h->as_keys && (h->where == NULL || !h->where[0])) {
                hd_buf_puts(b, "its keys"); /* an unnamed suspect */
            } else if (h->as_keys) {
                hd_buf_puts(b, "keys of <code>");
                label(b, h->where);
                hd_buf_puts(b, "</code>");
            } else if (h->where) {
                hd_buf_puts(b, "<code>");
                label(b, h->where);
                hd_buf_puts(b, "</code>");
            } else
                hd_buf_puts(b, "(below it)");
            hd_buf_printf(b, "</td><td class=\"n\">%s</td></tr>",
                          bytes(s2, sizeof(s2), h->retained));
        }
        hd_buf_puts(b, "</tbody></table>");
    }
    /* the other ways it is held: a cache may be reachable twice */
    if (hd_refchain_all(&more, &n_more, p->db, x->id, 4, NULL) == 0 &&
        n_more > 1) {
        hd_buf_printf(b, "<details class=\"others\"><summary>%zu holders in "
                      "all: the shortest chain through each</summary>",
                      n_more);
        for (size_t i = 0; i < n_more && err == 0; i++)
            err = chain_boxes(p, desc, more[i]);
        hd_buf_puts(b, "</details>");
    }
    for (size_t i = 0; i < n_more; i++)
        hd_chain_free(more[i]);
    free(more);
    hd_buf_puts(b, "</article>\n");
    return err;
}

static int
suspects(page *p, hd_rows *desc)
{
    hd_suspect *s = NULL;
    size_t n = 0;
    int err;
    if ((err = hd_suspects_find(&s, &n, p->db, p->o->min_pct, 8)) < 0)
        return err;
    hd_buf_printf(&p->h, "<section id=\"suspects\"><h2>Leak suspects</h2><p "
                  "class=\"hint\">Objects that keep %.0f%% or more of the heap "
                  "alive, followed down to where the memory piles up (as "
                  "Eclipse MAT does).</p>\n", p->o->min_pct);
    if (n == 0)
        hd_buf_printf(&p->h, "<p class=\"none\">No object retains %.0f%% or "
                      "more of the heap: nothing stands out.</p>",
                      p->o->min_pct);
    for (size_t i = 0; i < n && err == 0; i++) {
        err = suspect_html(p, desc, &s[i], i);
        p->suspect_ids[p->n_suspects++] = s[i].id;
    }
    hd_buf_puts(&p->h, "</section>\n");
    hd_suspects_free(s, n);
    return err;
}

/* ---- Types ---------------------------------------------------------------------- */

/* A bar under a number: its share of the column's largest. */
static void
cell_bar(hd_buf *b, int64_t v, int64_t max)
{
    hd_buf_printf(b, "<span class=\"cbar\" style=\"width:%.1f%%\"></span>",
                  100.0 * (double)v / (double)(max > 0 ? max : 1));
}

/* The types chart: a row per type, each number with a bar. */
static int
types(page *p)
{
    hd_buf *b = &p->h;
    hd_rows *r = NULL;
    char s1[32], c1[32];
    int64_t max[3] = {1, 1, 1};
    int err;
    if ((err = hd_query(&r, p->db, "SELECT max(count), max(size), "
                        "max(retained) FROM types", 0, NULL)) < 0)
        return err;
    if (hd_rows_next(r) == 1)
        for (int i = 0; i < 3; i++)
            max[i] = hd_rows_int(r, i);
    hd_rows_free(r);
    if ((err = hd_query(&r, p->db, "SELECT name, module, count, size, "
                        "retained FROM types WHERE count > 0 ORDER BY retained"
                        " DESC, size DESC LIMIT 40", 0, NULL)) < 0)
        return err;
    hd_buf_puts(b, "<section id=\"types\"><h2>Types</h2><p class=\"hint\">"
                "count, shallow size (their own bytes) and retained size "
                "(what freeing every instance would free; instances inside "
                "others count once); click a heading to sort.</p>"
                "<table class=\"types sortable\"><thead><tr><th>type</th>"
                "<th>module</th><th class=\"n\">count</th><th class=\"n\">"
                "shallow</th><th class=\"n\">retained</th><th class=\"n\">"
                "of the heap</th></tr></thead><tbody>\n");
    while ((err = hd_rows_next(r)) == 1) {
        int64_t v[3] = {hd_rows_int(r, 2), hd_rows_int(r, 3),
                        hd_rows_int(r, 4)};
        hd_buf_puts(b, "<tr><td class=\"ty\">");
        text(b, hd_rows_text(r, 0), 80);
        hd_buf_puts(b, "</td><td>");
        text(b, hd_rows_text(r, 1), 80);
        for (int i = 0; i < 3; i++) {
            hd_buf_printf(b, "</td><td class=\"n\" data-v=\"%" PRId64 "\">%s",
                          v[i], i == 0 ? hd_count_str(c1, sizeof(c1), v[i])
                                       : bytes(s1, sizeof(s1), v[i]));
            cell_bar(b, v[i], max[i]);
        }
        hd_buf_printf(b, "</td><td class=\"n\" data-v=\"%" PRId64 "\">%.1f%%"
                      "</td></tr>\n", v[2], share(p, v[2]));
    }
    hd_rows_free(r);
    hd_buf_puts(b, "</tbody></table></section>\n");
    return err < 0 ? err : 0;
}

/* ---- Garbage and cycles ------------------------------------------------------------ */

static int
garbage(page *p)
{
    hd_buf *b = &p->h;
    hd_rows *r = NULL;
    char s1[32], c1[32];
    int err, any = 0;
    hd_buf_puts(b, "<section id=\"garbage\"><h2>Cycles and garbage</h2>");
    /* the load counted the garbage: no scan of every object for none */
    int none = hd_meta_int(p->db, "unreachable") == 0 &&
               meta_text(p, "unreachable_size", s1, sizeof(s1));
    if ((err = hd_query(&r, p->db, "SELECT t.name, count(*), sum(o.size), "
                        "sum(o.flags & " HD_SQL(HD_OBJ_FINALIZER) " != 0), sum(o.flags & " HD_SQL(HD_OBJ_LEGACY_DEL) " != 0) FROM "
                        "objects o JOIN types t ON t.id = o.type WHERE "
                        "o.reachable = 0 AND ?1 = 0 GROUP BY t.name ORDER BY 3"
                        " DESC LIMIT 15", 0, NULL)) < 0 ||
        (err = hd_rows_rerun(r, 1, (int64_t[1]){none})) < 0) {
        hd_rows_free(r);
        return err;
    }
    while ((err = hd_rows_next(r)) == 1) {
        if (!any++)
            hd_buf_puts(b, "<p>No root reaches these objects: they live only "
                        "because they refer to each other, and "
                        "<code>gc.collect()</code> would free them.</p><table "
                        "class=\"garbage\"><thead><tr><th>type</th><th "
                        "class=\"n\">count</th><th class=\"n\">size</th><th>"
                        "finalisers</th></tr></thead><tbody>");
        int64_t fin = hd_rows_int(r, 3), legacy = hd_rows_int(r, 4);
        hd_buf_puts(b, "<tr><td class=\"ty\">");
        text(b, hd_rows_text(r, 0), 80);
        hd_buf_printf(b, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                      "<td>", hd_count_str(c1, sizeof(c1), hd_rows_int(r, 1)),
                      bytes(s1, sizeof(s1), hd_rows_int(r, 2)));
        if (legacy)
            hd_buf_printf(b, "<span class=\"warn\">%" PRId64 " with tp_del: "
                          "uncollectable, they go to gc.garbage</span>",
                          legacy);
        else if (fin)
            hd_buf_printf(b, "<span class=\"fin\">%" PRId64 " with __del__: "
                          "it runs when they are collected</span>", fin);
        hd_buf_puts(b, "</td></tr>");
    }
    hd_rows_free(r);
    if (err < 0)
        return err;
    if (any)
        hd_buf_puts(b, "</tbody></table>");
    else
        hd_buf_puts(b, "<p class=\"none\">No garbage: every object is "
                    "reachable from a root.</p>");
    /* cycles people can act on: garbage, then live ones with finalisers;
     * not the module/class backbone every program has */
    if ((err = hd_query(&r, p->db, "SELECT c.id, c.reachable, c.members, "
                        "c.size, c.retained, c.finalizers, (SELECT "
                        "group_concat(n, ', ') FROM (SELECT t.name || ' x' || "
                        "count(*) AS n FROM objects m JOIN types t ON t.id = "
                        "m.type WHERE m.scc = c.id GROUP BY t.name ORDER BY "
                        "count(*) DESC, t.name LIMIT 4)) FROM cycles c WHERE "
                        "c.backbone = 0 ORDER BY c.reachable, "
                        "c.finalizers > 0 DESC, c.retained DESC LIMIT 12", 0,
                        NULL)) < 0)
        return err;
    any = 0;
    while ((err = hd_rows_next(r)) == 1) {
        if (!any++)
            hd_buf_puts(b, "<h3>Reference cycles</h3><table class=\"cycles\">"
                        "<thead><tr><th>cycle</th><th>state</th><th class="
                        "\"n\">members</th><th class=\"n\">retained</th><th>"
                        "of types</th><th>finalisers</th></tr></thead><tbody>");
        int64_t fin = hd_rows_int(r, 5);
        hd_buf_printf(b, "<tr><td>#%" PRId64 "</td><td>%s</td><td class=\"n\">"
                      "%s</td><td class=\"n\">%s</td><td class=\"ty\">",
                      hd_rows_int(r, 0), hd_rows_int(r, 1) ? "alive"
                                                          : "garbage",
                      hd_count_str(c1, sizeof(c1), hd_rows_int(r, 2)),
                      bytes(s1, sizeof(s1), hd_rows_int(r, 4)));
        text(b, hd_rows_text(r, 6), 200);
        hd_buf_puts(b, "</td><td>");
        if (fin)
            hd_buf_printf(b, "<span class=\"fin\">%" PRId64 " __del__</span>",
                          fin);
        hd_buf_puts(b, "</td></tr>");
    }
    hd_rows_free(r);
    if (any)
        hd_buf_puts(b, "</tbody></table>");
    hd_buf_puts(b, "</section>\n");
    return err < 0 ? err : 0;
}

/* ---- The page ---------------------------------------------------------------------- */

static const char NAV_DUMP[] =
    "<a href=\"#suspects\">Suspects</a> <a href=\"#tree\">Dominator tree</a> "
    "<a href=\"#picture\">Picture</a> <a href=\"#types\">Types</a> <a href="
    "\"#garbage\">Garbage</a>";
static const char NAV_GROWTH[] =
    "<a href=\"#growth-paths\">Where it grew</a> <a href=\"#growth-types\">"
    "Types that grew</a> <a href=\"#suspects\">Suspects now</a>";

static void
head(page *p, const char *title, const char *nav)
{
    char argv[512], cmd[512];
    hd_buf *b = &p->h;
    hd_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset="
                "\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" "
                "content=\"default-src 'none'; style-src 'unsafe-inline'; "
                "script-src 'unsafe-inline'; img-src data:\">\n<meta name="
                "\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "\n<title>heapdig: ");
    text(b, meta_text(p, "argv", argv, sizeof(argv)) ? command_line(cmd,
         sizeof(cmd), argv) : p->o->source, 80);
    hd_buf_puts(b, "</title>\n<style>\n");
    hd_buf_puts(b, hd_report_css);
    hd_buf_printf(b, "</style></head>\n<body class=\"noscript\">\n<header>"
                  "<h1>%s</h1><p class=\"source\">", title);
    text(b, p->o->source, 300);
    hd_buf_printf(b, "</p><nav>%s</nav></header>\n<main>\n", nav);
}

/* The script and its data, and the end of the page; then the file. */
static int
finish_page(page *p, const char *path)
{
    hd_buf_printf(&p->h, "</main>\n<footer>heapdig %d.%d: everything on this "
                  "page is in this file; it fetches nothing.</footer>\n"
                  "<script type=\"application/json\" id=\"hd-data\">",
                  HD_FORMAT_MAJOR, HD_FORMAT_MINOR);
    hd_buf_put(&p->h, p->j.p, p->j.n);
    hd_buf_puts(&p->h, "</script>\n<script>\n");
    hd_buf_puts(&p->h, hd_report_js);
    hd_buf_puts(&p->h, "</script>\n</body></html>\n");
    if (p->h.oom || p->j.oom)
        return hd_error_set(HD_ENOMEM, "report: out of memory");
    return hd__write_file_atomic(path, p->h.p, p->h.n);
}

static void
defaults(hd_report_opts *o)
{
    if (o->min_pct <= 0)
        o->min_pct = 10;
    if (o->max_nodes <= 0)
        o->max_nodes = 2000;
    if (o->max_children <= 0)
        o->max_children = 25;
    if (o->source == NULL)
        o->source = "";
}

int
hd_report_write(hd_db *db, const hd_report_opts *opts, const char *path)
{
    hd_report_opts o = opts ? *opts : (hd_report_opts){0};
    page p = {.db = db, .o = &o};
    hd_rows *desc = NULL;
    int err;
    defaults(&o);
    p.total = hd_meta_int(db, "total_size");
    if ((err = hd_query(&desc, db, "SELECT t.name, o.value, o.flags FROM objects o "
                        "JOIN types t ON t.id = o.type WHERE o.id = ?1", 0,
                        NULL)) < 0)
        goto done;
    head(&p, "heapdig report", NAV_DUMP);
    hd_buf_printf(&p.j, "{\"total\": %" PRId64 ",\n", p.total);
    if ((err = overview(&p)) < 0 || (err = suspects(&p, desc)) < 0)
        goto done;
    hd_buf_puts(&p.h, "<section id=\"tree\"><h2>Dominator tree</h2><p class="
                "\"hint\">Each object holds what is listed under it: "
                "what would be freed with it.  Largest first; select a row "
                "to see why it is alive.</p><div class=\"cols\"><span>"
                "object</span><span class=\"num\"><span class=\"sh\">shallow"
                "</span><span class=\"rt\">retained</span><span class=\"pc\">"
                "share</span></span></div><div class=\"domtree\">\n");
    if ((err = hd__report_tree(&p.h, &p.j, db, p.total, o.max_nodes,
                               o.max_children, p.suspect_ids,
                               p.n_suspects)) < 0)
        goto done;
    hd_buf_puts(&p.h, "</div><aside id=\"retainers\" hidden><h3>Retainers"
                "</h3><div class=\"body\"></div></aside></section>\n"
                "<section id=\"picture\"><h2>Where the memory is</h2><p class="
                "\"hint\">The dominator tree by retained size: click a block "
                "to zoom in, the top bar to zoom out.</p><div id=\"icicle\">"
                "</div><noscript><p>The picture needs scripts; the tree above"
                " has the same facts.</p></noscript></section>\n");
    if ((err = types(&p)) < 0 || (err = garbage(&p)) < 0)
        goto done;
    hd_buf_puts(&p.j, "}");
    err = finish_page(&p, path);
done:
    hd_rows_free(desc);
    hd_buf_free(&p.h);
    hd_buf_free(&p.j);
    return err;
}

/* ---- The growth report ------------------------------------------------------------ */

/* A small bar chart of a row's counts across the dumps (numbers only). */
static void
sparkline(hd_buf *b, const int64_t *v, int n)
{
    int64_t top = 1;
    for (int i = 0; i < n; i++)
        top = v[i] > top ? v[i] : top;
    hd_buf_printf(b, "<svg class=\"spark\" width=\"%d\" height=\"22\" "
                  "role=\"img\"><title>", 16 * n);
    for (int i = 0; i < n; i++)
        hd_buf_printf(b, "%s%" PRId64, i ? " → " : "", v[i]);
    hd_buf_puts(b, "</title>");
    for (int i = 0; i < n; i++) {
        int h = (int)(20.0 * (double)v[i] / (double)top + 0.5);
        hd_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height="
                      "\"%d\"></rect>", 16 * i, 21 - h, h ? h : 1);
    }
    hd_buf_puts(b, "</svg>");
}

static int
growth_table(page *p, int n, int by_path)
{
    hd_buf *b = &p->h;
    hd_rows *r = NULL;
    char s1[32], s2[32], c1[32];
    int err, rows = 0;
    if ((err = hd_diff_query(&r, p->db, n, by_path, HD_RANK_RETAINED, 25)) < 0)
        return err;
    hd_buf_printf(b, "<section id=\"growth-%s\"><h2>%s</h2><p class=\"hint"
                  "\">%s</p><table class=\"growth\"><thead><tr><th>%s</th>"
                  "<th>%s</th><th>count in each dump</th><th></th><th "
                  "class=\"n\">count growth</th><th class=\"n\">size growth"
                  "</th><th class=\"n\">retained growth</th></tr></thead>"
                  "<tbody>\n", by_path ? "paths" : "types",
                  by_path ? "What grew, by where it is held" : "What grew, "
                  "by type", by_path ? "Indices and keys are generalised to "
                  "[*], so a cache that gained 10,000 entries is one row. "
                  "Rows that grew in every interval (steady) come first: a "
                  "steady leak." : "Types whose instances grew; retained: "
                  "what they keep alive.", by_path ? "held at" : "type",
                  by_path ? "type" : "module");
    int base = 2; /* held_at or type, type or module, then count_1.. */
    while ((err = hd_rows_next(r)) == 1) {
        int64_t counts[3];
        for (int i = 0; i < n; i++)
            counts[i] = hd_rows_int(r, base + i);
        int steady = n == 3 && hd_rows_text(r, base + 3) &&
                     hd_rows_text(r, base + 3)[0];
        int g = base + n + (n == 3);
        rows++;
        hd_buf_printf(b, "<tr%s><td>", steady ? " class=\"steady\"" : "");
        if (by_path) {
            hd_buf_puts(b, "<code>");
            label(b, hd_rows_text(r, 0));
            hd_buf_puts(b, "</code></td><td class=\"ty\">");
            text(b, hd_rows_text(r, 1), 80);
        } else {
            hd_buf_puts(b, "<span class=\"ty\">");
            text(b, hd_rows_text(r, 0), 80);
            hd_buf_puts(b, "</span></td><td>");
            text(b, hd_rows_text(r, 1), 80);
        }
        hd_buf_puts(b, "</td><td class=\"n\">");
        for (int i = 0; i < n; i++)
            hd_buf_printf(b, "%s%s", i ? " → " : "",
                          hd_count_str(c1, sizeof(c1), counts[i]));
        hd_buf_puts(b, "</td><td>");
        sparkline(b, counts, n);
        if (steady)
            hd_buf_puts(b, " <span class=\"badge\">steady</span>");
        hd_buf_printf(b, "</td><td class=\"n\">%s%s</td><td class="
                      "\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
                      hd_rows_int(r, g) >= 0 ? "+" : "",
                      hd_count_str(c1, sizeof(c1), hd_rows_int(r, g)),
                      signed_bytes(s1, sizeof(s1), hd_rows_int(r, g + 1)),
                      signed_bytes(s2, sizeof(s2), hd_rows_int(r, g + 2)));
    }
    hd_rows_free(r);
    hd_buf_puts(b, "</tbody></table>");
    if (rows == 0)
        hd_buf_puts(b, "<p class=\"none\">Nothing grew.</p>");
    hd_buf_puts(b, "</section>\n");
    return err < 0 ? err : 0;
}

/* The dumps side by side: when, how many objects, how big (from the
 * meta tables of the diff's databases: main, b, c). */
static int
growth_overview(page *p, const char *const *dbs, int n)
{
    static const char *const schema[] = {"main", "b", "c"};
    hd_buf *b = &p->h;
    char s1[32], s2[32], c1[32], sql[256];
    int64_t first = 0, last = 0;
    int err = 0;
    hd_buf_puts(b, "<section id=\"overview\"><h2>The dumps</h2><table>"
                "<thead><tr><th></th><th>database</th><th>dumped at</th><th "
                "class=\"n\">objects</th><th class=\"n\">size</th></tr>"
                "</thead><tbody>");
    for (int i = 0; i < n && i < 3 && err == 0; i++) {
        hd_rows *r = NULL;
        snprintf(sql, sizeof(sql), "SELECT (SELECT value FROM %s.meta WHERE "
                 "key = 'time'), (SELECT value FROM %s.meta WHERE key = "
                 "'objects'), (SELECT value FROM %s.meta WHERE key = "
                 "'total_size')", schema[i], schema[i], schema[i]);
        if ((err = hd_query(&r, p->db, sql, 0, NULL)) == 0 &&
            (err = hd_rows_next(r)) == 1) {
            int64_t total = hd_rows_int(r, 2);
            if (i == 0)
                first = total;
            last = total;
            hd_buf_printf(b, "<tr><td>%d</td><td><code>", i + 1);
            text(b, dbs[i], 200);
            hd_buf_puts(b, "</code></td><td>");
            text(b, hd_rows_text(r, 0) ? hd_rows_text(r, 0) : "", 80);
            hd_buf_printf(b, "</td><td class=\"n\">%s</td><td class=\"n\">"
                          "%s</td></tr>",
                          hd_count_str(c1, sizeof(c1), hd_rows_int(r, 1)),
                          bytes(s1, sizeof(s1), total));
            err = 0;
        }
        hd_rows_free(r);
    }
    if (err < 0)
        return err;
    hd_buf_printf(b, "</tbody></table><p class=\"headline\">From the first "
                  "dump to the last the heap changed by %s.</p></section>\n",
                  signed_bytes(s2, sizeof(s2), last - first));
    return 0;
}

int
hd_report_growth_write(hd_db *diff, const char *const *dbs, int n,
                       const hd_report_opts *opts, const char *path)
{
    hd_report_opts o = opts ? *opts : (hd_report_opts){0};
    page p = {.o = &o, .db = diff};
    hd_db *newest = NULL;
    hd_rows *desc = NULL;
    int err;
    defaults(&o);
    if (n < 2 || n > 3)
        return hd_error_set(HD_EINVAL, "report: two or three databases, "
                            "not %d", n);
    if ((err = hd_db_open(&newest, dbs[n - 1])) < 0)
        goto done;
    head(&p, "heapdig growth report", NAV_GROWTH);
    hd_buf_puts(&p.j, "{\"total\": 0, \"nodes\": [], \"objects\": []}");
    if ((err = growth_overview(&p, dbs, n)) < 0 ||
        (err = growth_table(&p, n, 1)) < 0 ||
        (err = growth_table(&p, n, 0)) < 0)
        goto done;
    /* the suspects of the newest dump: where the memory is now */
    hd_db *diff_db = p.db;
    p.db = newest;
    p.total = hd_meta_int(newest, "total_size");
    if ((err = hd_query(&desc, newest, "SELECT t.name, o.value, o.flags FROM objects o"
                        " JOIN types t ON t.id = o.type WHERE o.id = ?1", 0,
                        NULL)) == 0)
        err = suspects(&p, desc);
    p.db = diff_db;
    if (err < 0)
        goto done;
    err = finish_page(&p, path);
done:
    hd_rows_free(desc);
    hd_db_close(newest);
    hd_buf_free(&p.h);
    hd_buf_free(&p.j);
    return err;
}
