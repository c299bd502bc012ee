"""`heapdig report`, looked at in real browsers (Debian's chromium and
firefox-esr, headless).

    python test_report.py HEAPDIG_CLI OUTDIR [--browser chromium|firefox]
                          [--screenshot PNG]

The leaky_cache sample's report names its leak in the rendered page (the
variable, its type, what it holds, the chain as labels and as Python, the
same numbers as `heapdig suspects`); a dominator tree row expands to show
its children; selecting one shows why it is alive; the picture zooms; the
facts are there with scripts off; hostile heap strings stay text; the page
logs no error and asks for nothing.  --screenshot keeps a picture of the
report (docs/report.png is made so).
"""
import json
import os
import stat
import sqlite3
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
from hdtest import check, finish, run  # noqa: E402
import cdp  # noqa: E402
import marionette  # noqa: E402

SAMPLES = os.path.normpath(os.path.join(HERE, "..", "..", "samples"))

HOSTILE = r'''
import sys, heapdig
EVIL = '</script><img src=x onerror="window.__pwned=1"><!--'
Evil = type('<img src=x onerror="window.__pwned=2">', (), {})
class Holder:
    pass
h = Holder()  # the dict is reachable only as an attribute with a hostile name
setattr(h, '<script>window.__pwned=3</script>', {})
for i in range(3000):
    e = Evil()
    e.blob = bytearray(1000)
    e.note = EVIL + str(i)
    getattr(h, '<script>window.__pwned=3</script>')[EVIL + "\u202e" + str(i)] = e
heapdig.dump(sys.argv[1])
'''


def fresh(*paths):
    for p in paths:
        if os.path.exists(p):
            os.unlink(p)


def rows_of(b, selector):
    return b.eval("[...document.querySelectorAll(%s)].map(e => "
                  "e.textContent)" % json.dumps(selector))


def leaky_cache(cli, outdir, b, screenshot):
    dump = os.path.join(outdir, "leaky_cache.hdig")
    html = os.path.join(outdir, "leaky_cache.html")
    fresh(dump, dump + ".db", html)
    subprocess.check_call([sys.executable, os.path.join(SAMPLES,
                                                        "leaky_cache.py"),
                           dump], stdout=subprocess.DEVNULL)
    rc, out, err = run(cli, "report", dump)
    check("report DUMP loads it and writes the page beside it",
          rc == 0 and out.strip() == html and os.path.exists(html),
          "rc %d %r %r" % (rc, out, err))
    if rc != 0:
        return
    check("the page is private, like the dump (0600)",
          stat.S_IMODE(os.stat(html).st_mode) == 0o600,
          oct(os.stat(html).st_mode))
    check("no temporary file is left beside it",
          not [f for f in os.listdir(outdir) if ".tmp-" in f],
          repr(os.listdir(outdir)))
    size = os.path.getsize(html)
    check("the page is small (%d KiB)" % (size // 1024), size < 3 << 20)
    rc, out, _ = run(cli, "suspects", dump + ".db", "--format", "json")
    cli_sus = json.loads(out)["suspects"][0]

    b.open(html)
    check("the script ran (it marks the page)",
          b.eval("!document.body.classList.contains('noscript')"))
    h3 = b.eval("document.querySelector('#suspect-1 h3').textContent")
    check("suspect 1 is named by its variable and type, with its share",
          "_REQUEST_CACHE" in h3 and "dict" in h3 and
          "%.1f%%" % cli_sus["percent"] in h3, repr(h3))
    py = b.eval("document.querySelector('#suspect-1 code.python')"
                ".textContent")
    check("the chain as Python, as `heapdig suspects` gives it",
          py == cli_sus["python"] ==
          "sys.modules['__main__']._REQUEST_CACHE", repr(py))
    arrows = rows_of(b, "#suspect-1 ol.chain .arrow")
    check("the chain as labels", arrows[-1:] == ["['_REQUEST_CACHE']"] and
          ".__dict__" in arrows, repr(arrows))
    holds = rows_of(b, "#suspect-1 table.holds tbody tr")
    check("what it holds: 20,000 Request under _REQUEST_CACHE[*]",
          holds and "20,000" in holds[0] and "Request" in holds[0] and
          "_REQUEST_CACHE[*]" in holds[0], repr(holds[:2]))
    rc, out, _ = run(cli, "summary", dump + ".db", "-n", "1")
    rss_line = [l for l in out.splitlines() if l.startswith("Memory: RSS ")]
    mem = b.eval("(document.getElementById('memory') || {}).textContent")
    check("the overview has the process's memory, as `summary` gives it",
          rss_line and mem and rss_line[0][len("Memory: "):] in mem,
          repr((rss_line, mem)))
    mem_rows = rows_of(b, "table.memory tbody tr")
    check("split into objects, free space and what no object explains",
          len(mem_rows) >= 3 and mem_rows[0].startswith("Python objects") and
          any(r.startswith("not explained by any object") for r in mem_rows),
          repr(mem_rows))
    types = rows_of(b, "table.types tbody tr td.ty")
    check("the types table lists Request", "Request" in types, repr(types[:5]))

    first = b.eval("document.querySelector('.domtree .row[data-node=\"1\"]')"
                   ".textContent")
    check("the tree's first row is __main__'s namespace, named for its module",
          first.startswith("dict via module __main__ .__dict__"), repr(first))

    more = rows_of(b, ".domtree .more")
    check("rows left out of the tree are counted by type",
          any("more retaining" in m and "Request \u00d7" in m for m in more),
          repr(more[:4]))

    # the dominator tree: a Request expands to what it holds
    opened = b.eval(r'''(function () {
      var row = [...document.querySelectorAll(".domtree summary .row")]
          .find(e => e.textContent.startsWith("Request ['/api/items/"));
      if (!row) return null;
      var d = row.closest("details"), before = d.open;
      row.id = "picked";
      row.closest("summary").click();
      var kids = [...d.querySelectorAll(":scope > details > summary .row, " +
                                        ":scope > .leaf .row")];
      return {before: before, after: d.open,
              shown: kids.every(k => k.offsetParent !== null),
              kids: kids.map(k => k.textContent),
              key: row.querySelector(".lb").textContent};
    })()''')
    check("a Request in the cache is a row of the tree, closed at first",
          opened is not None and not opened["before"], repr(opened))
    if opened:
        check("expanding it shows its children, its headers dict among them",
              opened["after"] and opened["shown"] and
              any(k.startswith("dict .headers") for k in opened["kids"]),
              repr(opened["kids"]))
    order = b.eval(r'''(function () {
      var data = JSON.parse(document.getElementById("hd-data").textContent);
      var bad = 0;
      data.nodes.forEach(function (n) {
        var sum = 0, last = Infinity;
        for (var k = 0; k < n[8]; k++) {
          var c = data.nodes[n[7] + k];
          sum += c[6];
          if (c[6] > last) bad++;
          last = c[6];
        }
        if (sum + n[10] > n[6] && n[1] >= 0) bad++;
      });
      return bad;
    })()''')
    check("children are sorted by retained size and never retain more than "
          "their parent", order == 0, repr(order))

    # selecting a row shows why it is alive
    key = opened["key"] if opened else "?"
    ret = b.eval(r'''(function () {
      document.getElementById("picked").click();
      var p = document.getElementById("retainers");
      return {hidden: p.hidden, arrows: [...p.querySelectorAll(".arrow")]
              .map(e => e.textContent), python: (p.querySelector("code") ||
              {}).textContent};
    })()''')
    check("selecting it shows its chain from a root",
          not ret["hidden"] and ret["arrows"][-2:] ==
          ["['_REQUEST_CACHE']", key], repr(ret))
    check("and the chain as Python", ret["python"] ==
          "sys.modules['__main__']._REQUEST_CACHE" + key,
          repr(ret["python"]))

    # the picture zooms in on a click, out on the top bar
    zoom = b.eval(r'''(function () {
      var blk = [...document.querySelectorAll("#icicle .blk")]
          .find(e => e.textContent.startsWith("dict ['_REQUEST_CACHE']"));
      if (!blk) return null;
      var w0 = blk.offsetWidth;
      blk.click();
      var top = document.querySelector("#icicle .blk");
      var r = {before: w0, top: top.textContent, width: top.offsetWidth,
               full: document.getElementById("icicle").clientWidth};
      top.click();
      r.back = document.querySelector("#icicle .blk").textContent;
      return r;
    })()''')
    check("the picture shows the cache; a click zooms in on it",
          zoom and zoom["top"].startswith("dict ['_REQUEST_CACHE']") and
          zoom["width"] >= zoom["full"] - 2 and zoom["before"] < zoom["full"],
          repr(zoom))
    check("clicking the top bar zooms out",
          zoom and not zoom["back"].startswith("dict ['_REQUEST_CACHE']"),
          repr(zoom and zoom["back"]))
    check("no console error, exception or error log", not b.problems(),
          repr(b.problems()))
    check("no request leaves the page", not b.requests(), repr(b.requests()))
    if screenshot:
        b.eval("document.querySelector('.domtree .row[data-node=\"0\"]')"
               ".scrollIntoView(); window.scrollTo(0, 0)")
        b.screenshot(screenshot, full_page=False)
        check("screenshot written", os.path.getsize(screenshot) > 10000)

    # with scripts off the facts are in the HTML itself
    b.open(html, scripts=False)
    check("scripts off: the script did not run",
          b.eval("document.body.classList.contains('noscript')"))
    text = b.eval("document.body.innerText")
    check("scripts off: the suspect, its chain and what it holds are there",
          "_REQUEST_CACHE" in text and "sys.modules['__main__']."
          "_REQUEST_CACHE" in text and "Request" in text and
          "Dominator tree" in text, text[:300])
    check("scripts off: the tree still expands (details)",
          b.eval("document.querySelectorAll('.domtree details').length") > 50)
    check("scripts off: no error, no request",
          not b.problems() and not b.requests(),
          repr((b.problems(), b.requests())))


def hostile(cli, outdir, b):
    app = os.path.join(outdir, "hostile_app.py")
    dump = os.path.join(outdir, "hostile.hdig")
    html = os.path.join(outdir, "hostile-report.html")
    fresh(dump, dump + ".db", html)
    with open(app, "w") as f:
        f.write(HOSTILE)
    subprocess.check_call([sys.executable, app, dump])
    rc, out, err = run(cli, "report", dump, "-o", html)
    check("hostile heap: the report is written", rc == 0, err)
    if rc:
        return
    with open(html, encoding="utf-8") as f:
        page = f.read()
    check("no heap string is markup: the page has 2 script elements, no img",
          page.count("<script") == 2 and "<img" not in page,
          "%d scripts" % page.count("<script"))
    b.open(html)
    got = b.eval(r'''(function () {
      var row = [...document.querySelectorAll(".domtree .row")]
          .find(e => e.textContent.includes("onerror"));
      if (row) row.click();
      return {pwned: window.__pwned === undefined ? null : window.__pwned,
              imgs: document.images.length,
              scripts: document.scripts.length,
              ran: !document.body.classList.contains("noscript"),
              text: document.body.innerText,
              panel: document.getElementById("retainers").innerText};
    })()''')
    check("no script from the heap ran", got["pwned"] is None,
          repr(got["pwned"]))
    check("no element from the heap: no img, two scripts",
          got["imgs"] == 0 and got["scripts"] == 2, repr(got["scripts"]))
    check("the page's own script ran (its data survived a </script> value)",
          got["ran"])
    check("the type name shows as text",
          '<img src=x onerror="window.__pwned=2">' in got["text"])
    check("a key with </script> shows as text, its bidi override escaped",
          '</script><img src=x onerror="window.__pwned=1"><!--\\u202e'
          in got["text"] or "\\u202e" in got["panel"],
          repr(got["panel"][:300]))
    check("the attribute named <script> shows as text (suspect 1's name)",
          b.eval("document.querySelector('#suspect-1 code.name')"
                 ".textContent") == "<script>window.__pwned=3</script>",
          repr(b.eval("document.querySelector('#suspect-1 h3').textContent")))
    check("hostile heap: no console error, no request",
          not b.problems() and not b.requests(),
          repr((b.problems(), b.requests())))


GROWING = r'''
import sys, heapdig
class Session:
    def __init__(self, n):
        self.cart = [("item-%d" % i, i * 0.5) for i in range(10)]
_SESSIONS = {}
STABLE = [bytearray(100) for i in range(500)]
for k, out in enumerate(sys.argv[1:]):
    for n in range(1500):
        _SESSIONS["sess-%d-%d" % (k, n)] = Session(n)
    heapdig.dump(out)
'''


def growth(cli, outdir, b):
    app = os.path.join(outdir, "growing_app.py")
    dumps = [os.path.join(outdir, "grow%d.hdig" % i) for i in (1, 2, 3)]
    html = os.path.join(outdir, "grow3.growth.html")
    fresh(html, *[d + ext for d in dumps for ext in ("", ".db")])
    with open(app, "w") as f:
        f.write(GROWING)
    subprocess.check_call([sys.executable, app] + dumps)
    rc, out, err = run(cli, "report", *dumps)
    check("report A B C: the growth report, beside the newest dump",
          rc == 0 and out.strip() == html and os.path.exists(html),
          "rc %d %r %r" % (rc, out, err))
    if rc:
        return
    b.open(html)
    first = b.eval(r'''(function () {
      var tr = document.querySelector("#growth-paths tbody tr");
      return tr && {text: tr.innerText, steady: tr.classList.contains("steady"),
                    bars: tr.querySelectorAll("svg.spark rect").length};
    })()''')
    check("what grew most, by where it is held: the sessions, steady",
          first and "['_SESSIONS'][*]" in first["text"] and "Session" in
          first["text"] and first["steady"], repr(first))
    check("with the count in each dump and a chart of them",
          first and "1,500 → 3,000 → 4,500" in first["text"] and
          first["bars"] == 3, repr(first))
    rows = b.eval(r'''Array.from(document.querySelectorAll(
      "#overview tbody tr")).map(function (tr) {
        return Array.from(tr.cells).map(function (c) { return c.innerText; });
      })''')
    want = []
    for i, d in enumerate(dumps):
        con = sqlite3.connect(d + ".db")
        meta = dict(con.execute("SELECT key, value FROM meta"))
        con.close()
        want.append([str(i + 1), d + ".db", meta["time"],
                     "{:,}".format(meta["objects"])])
    check("the dumps side by side: each database, its time and objects",
          [r[:4] for r in rows or []] == want, repr((rows, want)))
    types = b.eval("document.querySelector('#growth-types tbody').innerText")
    check("by type: Session grew", "Session" in types, types[:200])
    stable = b.eval("document.querySelector('#growth-paths').innerText")
    check("what did not grow is not listed (STABLE)", "STABLE" not in stable)
    name = b.eval("(document.querySelector('#suspect-1 code.name') || {})"
                  ".textContent")
    check("the newest dump's suspect is the sessions dict",
          name == "_SESSIONS", repr(name))
    check("growth report: no console error, no request",
          not b.problems() and not b.requests(),
          repr((b.problems(), b.requests())))


def errors(cli, outdir):
    rc, out, err = run(cli, "report", os.path.join(outdir, "missing.hdig"))
    check("a missing input is an error", rc == 1 and "missing.hdig" in err,
          repr(err))
    db = os.path.join(outdir, "leaky_cache.hdig.db")
    target = os.path.join(outdir, "no-such-dir", "r.html")
    rc, out, err = run(cli, "report", db, "-o", target)
    check("an unwritable output is an error naming it, and no file",
          rc == 1 and "no-such-dir" in err and not os.path.exists(target),
          repr(err))
    rc, out, err = run(cli, "report", db, "--threshold", "0")
    check("a bad --threshold is a usage error", rc == 2, repr(err))


def main(cli, outdir, browser="chromium", screenshot=None):
    os.makedirs(outdir, exist_ok=True)
    driver = {"chromium": cdp, "firefox": marionette}[browser]
    print("browser:", driver.__name__, driver.__doc__.splitlines()[0])
    with driver.Browser() as b:
        leaky_cache(cli, outdir, b, screenshot)
        hostile(cli, outdir, b)
        growth(cli, outdir, b)
    errors(cli, outdir)
    return finish()


if __name__ == "__main__":
    args = sys.argv[1:]
    opts = {}
    for flag in ("--screenshot", "--browser"):
        if flag in args:
            i = args.index(flag)
            opts[flag[2:]] = args[i + 1]
            del args[i:i + 2]
    if "screenshot" in opts:
        opts["screenshot"] = os.path.abspath(opts["screenshot"])
    sys.exit(main(*args, **opts))
