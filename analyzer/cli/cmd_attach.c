/* heapdig — MIT licence.
 *
 * cmd_attach.c: `heapdig attach PID` — dump a running process that was
 * never prepared for it.
 *
 * Two ways in, both running a small script in the target's main thread at a
 * point where running Python is safe, holding the GIL as any Python code:
 *
 *  - CPython 3.14+: the target's own interpreter binary (/proc/PID/exe, so
 *    the major.minor matches as PEP 768 requires) calls
 *    sys.remote_exec(PID, script); the target runs it at its next safe
 *    point and is never stopped.
 *  - 3.9-3.13, and 3.14+ where remote_exec cannot reach (remote debugging
 *    disabled, a main thread blocked in a system call): gdb, tried first on
 *    a throwaway process (attach_gdb.c).
 *
 * The script imports the target's own heapdig, or else the extension built
 * for exactly its version (put on sys.path for the import only), dumps (by
 * default forking, so the target pauses about as long as a fork; a daemon
 * thread reaps the child) and reports through a status file.  It claims
 * the attach first (a file made with O_EXCL), so a second way in that
 * fires later does nothing, and it carries a deadline: a timed-out attach
 * leaves nothing that acts later.  What runs late removes the directory.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "attach.h"
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ATTACH_MIN_MINOR 14 /* sys.remote_exec */

typedef struct attach_opts {
    long pid;
    const char *output;     /* -o */
    const char *pythonpath; /* --pythonpath */
    const char *gdb;        /* --gdb, $HEAPDIG_GDB or gdb; "none": never */
    double timeout;         /* --timeout, seconds */
    int foreground;         /* --foreground */
} attach_opts;

static int
attach_fail(long pid, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
attach_fail(long pid, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "heapdig: attach %ld: ", pid);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return HD_EXIT_ERROR;
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const cli_option OPTIONS[] = {
    OPT_OUTPUT,
    CLI_OPTION("--timeout", NULL, TAKES_SECONDS, timeout),
    CLI_OPTION("--pythonpath", NULL, TAKES_TEXT, pythonpath),
    CLI_OPTION("--gdb", NULL, TAKES_TEXT, gdb),
    CLI_OPTION("--foreground", NULL, FLAG, foreground),
    OPT_END};

static int
parse(attach_opts *o, int argc, char **argv)
{
    cli_opts c;
    int rc = cli_parse(&hd_cmd_attach, &c, argc, argv, OPTIONS);
    if (rc)
        return rc;
    memset(o, 0, sizeof(*o));
    o->output = c.output;
    o->pythonpath = c.pythonpath;
    o->timeout = c.timeout > 0 ? c.timeout : 60;
    o->foreground = c.foreground;
    o->gdb = c.gdb ? c.gdb : getenv("HEAPDIG_GDB");
    if (o->gdb == NULL || !*o->gdb)
        o->gdb = "gdb";
    if (c.n_pos == 0)
        return cli_usage(&hd_cmd_attach, "which process? give its pid");
    if (c.n_pos > 1)
        return cli_usage(&hd_cmd_attach, "unexpected argument %s", c.pos[1]);
    if (cli_number(c.pos[0], &o->pid) < 0 || o->pid <= 0 || o->pid > INT_MAX)
        return cli_usage(&hd_cmd_attach, "'%s' is not a process id",
                         c.pos[0]);
    return 0;
}

/* ---- The target ------------------------------------------------------------- */

/* Finds "python3.N" or "libpython3.N" in s; returns N or -1. */
static int
minor_in(const char *s)
{
    const char *p = s;
    while ((p = strstr(p, "python3.")) != NULL) {
        p += 8;
        if (*p >= '0' && *p <= '9')
            return atoi(p);
    }
    return -1;
}

/* The target's CPython minor version from its executable or the libpython
 * it mapped; -1 if it runs no CPython.  exe gets the executable's path. */
static int
target_minor(long pid, char *exe, size_t n)
{
    char path[64], line[4096];
    int minor;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
    ssize_t k = readlink(path, exe, n - 1);
    exe[k > 0 ? k : 0] = 0;
    if (k < 0 && (errno == EACCES || errno == EPERM))
        return -2; /* reading it takes the right to trace it */
    const char *base = strrchr(exe, '/');
    if ((minor = minor_in(base ? base : exe)) >= 0)
        return minor;
    snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        const char *lib = strstr(line, "libpython3.");
        if (lib && (minor = minor_in(lib)) >= 0) {
            fclose(f);
            return minor;
        }
    }
    fclose(f);
    return -1;
}

/* Whether dir holds a heapdig package built for CPython 3.minor. */
static int
has_extension(const char *dir, int minor)
{
    char sub[4096], want[32];
    DIR *d;
    struct dirent *e;
    int found = 0;
    snprintf(sub, sizeof(sub), "%s/heapdig", dir);
    snprintf(want, sizeof(want), "_heapdig.cpython-3%d", minor);
    if ((d = opendir(sub)) == NULL)
        return 0;
    while (!found && (e = readdir(d)) != NULL)
        found = strncmp(e->d_name, want, strlen(want)) == 0;
    closedir(d);
    return found;
}

/* The directory to put on the target's sys.path: --pythonpath, or where the
 * build (or install) beside this heapdig binary keeps the extension for
 * that version.  Returns 0 and fills out, or -1. */
static int
find_pythonpath(const attach_opts *o, int minor, char *out, size_t n)
{
    char self[2048], cand[4096];
    ssize_t k;
    DIR *d;
    struct dirent *e;
    if (o->pythonpath) {
        if (realpath(o->pythonpath, out) == NULL)
            snprintf(out, n, "%s", o->pythonpath);
        return has_extension(out, minor) ? 0 : -1;
    }
    if ((k = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
        return -1;
    self[k] = 0;
    *strrchr(self, '/') = 0;
    /* build/python (the default interpreter's), build/py/<each tested
     * interpreter>, or where pip installed the package beside this command
     * (a venv's or prefix's bin/ and lib/python3.N/site-packages) */
    snprintf(cand, sizeof(cand), "%s/python", self);
    if (has_extension(cand, minor))
        return snprintf(out, n, "%s", cand), 0;
    snprintf(cand, sizeof(cand), "%s/../lib/python3.%d/site-packages", self,
             minor);
    if (has_extension(cand, minor))
        return realpath(cand, out) ? 0 : -1;
    snprintf(cand, sizeof(cand), "%s/py", self);
    if ((d = opendir(cand)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(cand, sizeof(cand), "%s/py/%s", self, e->d_name);
        if (has_extension(cand, minor)) {
            closedir(d);
            return snprintf(out, n, "%s", cand), 0;
        }
    }
    closedir(d);
    return -1;
}

/* ---- The script the target runs ----------------------------------------- */

/* Writes s as a Python string literal (repr-safe for any bytes). */
static void
py_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\' || c == '\'' || c < 0x20 || c >= 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('\'', f);
}

static const char SCRIPT[] =
    "def _heapdig_attach(status, out, path, deadline, background):\n"
    "    import json, os, sys, time\n"
    "    here = os.path.dirname(status)\n"
    "    def report(**kw):\n"
    "        with open(status + '.tmp', 'w') as f:\n"
    "            json.dump(kw, f)\n"
    "        os.rename(status + '.tmp', status)\n"
    "    def tidy():\n"
    "        for f in ('attach.py', 'claimed', 'done'):\n"
    "            try:\n"
    "                os.unlink(os.path.join(here, f))\n"
    "            except OSError:\n"
    "                pass\n"
    "        try:\n"
    "            os.rmdir(here)\n"
    "        except OSError:\n"
    "            pass\n"
    "    if time.time() > deadline or os.path.exists(os.path.join(here, 'done')):\n"
    "        return tidy()  # heapdig attach gave up, or has finished\n"
    "    try:\n"
    "        os.close(os.open(os.path.join(here, 'claimed'),\n"
    "                         os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))\n"
    "    except OSError:\n"
    "        return  # another way in got there first\n"
    "    added = False\n"
    "    try:\n"
    "        try:\n"
    "            import heapdig\n"
    "        except ImportError:\n"
    "            sys.path.insert(0, path)\n"
    "            added = True\n"
    "            import heapdig\n"
    "        if background:\n"
    "            import threading\n"
    "            job = heapdig.dump(out, background=True)\n"
    "            def reap():\n"
    "                try:\n"
    "                    s = job.wait()\n"
    "                    report(ok=True, objects=s['objects'])\n"
    "                except BaseException as e:\n"
    "                    report(ok=False, error='%s: %s' % (type(e).__name__, e))\n"
    "            threading.Thread(target=reap, name='heapdig-attach',\n"
    "                             daemon=True).start()\n"
    "        else:\n"
    "            s = heapdig.dump(out)\n"
    "            report(ok=True, objects=s['objects'])\n"
    "    except BaseException as e:\n"
    "        report(ok=False, error='%s: %s' % (type(e).__name__, e))\n"
    "    finally:\n"
    "        if added and path in sys.path:\n"
    "            sys.path.remove(path)\n";

static int
write_script(const char *script, const char *status, const char *out,
             const char *path, double deadline, int background)
{
    FILE *f = fopen(script, "w");
    if (f == NULL)
        return -1;
    fputs(SCRIPT, f);
    fputs("try:\n    _heapdig_attach(", f);
    py_str(f, status);
    fputs(", ", f);
    py_str(f, out);
    fputs(", ", f);
    py_str(f, path);
    fprintf(f, ", %.3f, %s)\nfinally:\n    del _heapdig_attach\n", deadline,
            background ? "True" : "False");
    return fclose(f);
}

/* Runs the target's interpreter to call sys.remote_exec; 0, or -1 with its
 * message in err. */
static int
remote_exec(long pid, int minor, int exe_is_python, const char *script,
            char *err, size_t n)
{
    char exe[64], code[4200];
    int fds[2], status;
    pid_t child;
    /* The target's own interpreter where it is one; a program embedding
     * libpython (uwsgi, ...) is no interpreter to run: then python3.N. */
    if (exe_is_python)
        snprintf(exe, sizeof(exe), "/proc/%ld/exe", pid);
    else
        snprintf(exe, sizeof(exe), "python3.%d", minor);
    snprintf(code, sizeof(code), "import sys\ntry:\n sys.remote_exec(%ld, "
             "sys.argv[1])\nexcept Exception as e:\n print('%%s: %%s' %% "
             "(type(e).__name__, e), file=sys.stderr); sys.exit(1)", pid);
    if (pipe(fds) < 0)
        return snprintf(err, n, "pipe: %s", strerror(errno)), -1;
    if ((child = fork()) == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execlp(exe, "python3", "-I", "-c", code, script, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s", exe, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    ssize_t k, len = 0;
    while ((k = read(fds[0], err + len, n - 1 - (size_t)len)) > 0 &&
           (size_t)(len += k) < n - 1)
        ;
    err[len] = 0;
    close(fds[0]);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (len > 0 && err[len - 1] == '\n')
        err[len - 1] = 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Reads the status file: 1 when it says ok (objects filled), 0 when it
 * reports an error (msg filled), -1 if it is not there yet. */
static int
read_status(const char *path, long long *objects, char *msg, size_t n)
{
    char buf[2048];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t k = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[k] = 0;
    const char *p = strstr(buf, "\"objects\": ");
    if (strstr(buf, "\"ok\": true") && p) {
        *objects = atoll(p + 11);
        return 1;
    }
    p = strstr(buf, "\"error\": \"");
    snprintf(msg, n, "%s", p ? p + 10 : buf);
    if ((k = strlen(msg)) > 2 && msg[k - 1] == '}')
        msg[k - 2] = 0; /* the closing quote and brace */
    return 0;
}

/* Removes what heapdig attach made, or, when a way in may still fire
 * (keep), leaves the script with a "done" mark: when it fires it does
 * nothing but remove the rest. */
static void
finish_dir(const char *dir, int keep)
{
    char path[160];
    const char *names[] = {"status.json", "status.json.tmp", "claimed",
                           "attach.py", "done"};
    if (keep) {
        snprintf(path, sizeof(path), "%s/done", dir);
        FILE *f = fopen(path, "w");
        if (f)
            fclose(f);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (keep && i >= 2)
            break;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    if (!keep)
        rmdir(dir);
}

/* gdb as the user named it: a path, or a name found on PATH; 0 if found. */
static int
find_gdb(const char *gdb, char *out, size_t n)
{
    char cand[4096];
    if (strchr(gdb, '/'))
        return snprintf(out, n, "%s", gdb), access(gdb, X_OK);
    const char *path = getenv("PATH");
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t k = strcspn(p, ":");
        snprintf(cand, sizeof(cand), "%.*s/%s", (int)k, p, gdb);
        if (k && access(cand, X_OK) == 0)
            return snprintf(out, n, "%s", cand), 0;
        p += k + (p[k] == ':');
    }
    return -1;
}

/* The state of one attach: which ways in were tried. */
typedef struct attach_run {
    const attach_opts *o;
    int minor;         /* the target's CPython 3.minor */
    char exe[4096];    /* its executable */
    char ext[4096];    /* the heapdig extension's folder for it */
    char out[4096];    /* the dump, an absolute path */
    char dir[32];      /* /tmp/heapdig-attach-XXXXXX: script and status */
    char script[128], status[128];
    double deadline;
    char gdb[4096];
    int gdb_state;   /* 0 not tried, 1 usable, -1 not usable (gdb_why) */
    char gdb_why[1024];
    char boot[1100]; /* the code gdb has the target run */
    int async_ways;  /* ways in that fire when the target gets there */
    int gdb_ran;
} attach_run;

/* Whether gdb may be used; finds and probes it once. */
static int
gdb_usable(attach_run *a)
{
    if (a->gdb_state)
        return a->gdb_state > 0;
    a->gdb_state = -1;
    if (!strcmp(a->o->gdb, "none"))
        snprintf(a->gdb_why, sizeof(a->gdb_why), "--gdb none");
    else if (find_gdb(a->o->gdb, a->gdb, sizeof(a->gdb)) < 0)
        snprintf(a->gdb_why, sizeof(a->gdb_why), "gdb is missing (install "
                 "it: apt-get install gdb; or name one with --gdb PATH)");
    else if (gdb_probe(a->gdb, a->gdb_why, sizeof(a->gdb_why)) == 0)
        a->gdb_state = 1;
    return a->gdb_state > 0;
}

/* Has gdb bring the target in; may_queue as in gdb_inject.  0, or -1 with
 * err filled. */
static int
via_gdb(attach_run *a, int may_queue, char *err, size_t n)
{
    int r = gdb_inject(a->gdb, a->o->pid, a->boot, may_queue, err, n);
    if (r == GDB_QUEUED)
        a->async_ways++;
    if (r == GDB_RAN)
        a->gdb_ran = 1;
    return r == GDB_FAILED ? -1 : 0;
}

/* Whether the process has gone (a zombie counts: it runs nothing more). */
static int
gone(long pid)
{
    char path[64], line[256];
    int zombie = 0;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return 1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "State:", 6))
            zombie = strchr(line, 'Z') != NULL || strchr(line, 'X') != NULL;
    fclose(f);
    return zombie;
}

static int
exists(const char *dir, const char *name)
{
    char path[160];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Everything that can be found out without touching the process: that it
 * is there and ours, where the dump goes, its Python, our extension for
 * it, and (before 3.14) a gdb that gives a process back as it found it.
 * 0, or the exit code of an attach that must not start. */
static int
check_target(attach_run *a)
{
    const attach_opts *o = a->o;
    char path[64], cwd[2048], stamp[32], given[1024];
    struct stat st;
    if (kill((pid_t)o->pid, 0) < 0) {
        if (errno == ESRCH)
            return attach_fail(o->pid, "no such process (one in another "
                               "container or PID namespace is not visible "
                               "from here: run heapdig attach there, or on "
                               "the host with the host's pid)");
        snprintf(path, sizeof(path), "/proc/%ld", o->pid);
        if (stat(path, &st) == 0)
            return attach_fail(o->pid, "permission denied: the process "
                               "belongs to uid %ld; run heapdig attach as "
                               "that user or as root", (long)st.st_uid);
        return attach_fail(o->pid, "cannot signal it: %s", strerror(errno));
    }
    if (o->output == NULL) {
        time_t t = time(NULL);
        strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&t));
        snprintf(given, sizeof(given), "heapdig-%ld-%s.hdig", o->pid, stamp);
    } else
        snprintf(given, sizeof(given), "%s", o->output);
    /* The target's working directory is not ours: say where, absolutely. */
    if (given[0] != '/' && getcwd(cwd, sizeof(cwd)))
        snprintf(a->out, sizeof(a->out), "%s/%s", cwd, given);
    else
        snprintf(a->out, sizeof(a->out), "%s", given);
    if (stat(a->out, &st) == 0)
        return attach_fail(o->pid, "%s exists; heapdig never overwrites a "
                           "file: choose another with -o", a->out);
    if ((a->minor = target_minor(o->pid, a->exe, sizeof(a->exe))) == -2)
        return attach_fail(o->pid, "permission denied by ptrace: heapdig may "
                           "not look into the process (reading /proc/%ld/exe "
                           "needs the right to trace it): run heapdig attach "
                           "as its user; in a container without "
                           "CAP_SYS_PTRACE add it (docker: "
                           "--cap-add=SYS_PTRACE); with kernel.yama."
                           "ptrace_scope above 0, as root", o->pid);
    if (a->minor < 0)
        return attach_fail(o->pid, "not a Python process (it runs %s)",
                           a->exe[0] ? a->exe : "an executable heapdig "
                           "cannot read: try as its user or root");
    if (a->minor < 9)
        return attach_fail(o->pid, "Python 3.%d is not supported (heapdig "
                           "supports 3.9 to 3.15)", a->minor);
    if (find_pythonpath(o, a->minor, a->ext, sizeof(a->ext)) < 0)
        return attach_fail(o->pid, "no heapdig extension built for Python "
                           "3.%d %s%s; build one (cmake "
                           "-DHD_TEST_PYTHONS=/path/to/python3.%d) or pass "
                           "--pythonpath DIR", a->minor,
                           o->pythonpath ? "in " : "beside this heapdig",
                           o->pythonpath ? o->pythonpath : "", a->minor);
    /* Before 3.14 gdb is the only way in: find out first that it can
     * give a process back as it found it. */
    if (a->minor < ATTACH_MIN_MINOR && !gdb_usable(a))
        return attach_fail(o->pid, "Python 3.%d has no sys.remote_exec, so "
                           "attaching needs gdb, and %s; nothing was done to "
                           "the process%s", a->minor, a->gdb_why,
                           strstr(a->gdb_why, "registers") ||
                           strstr(a->gdb_why, "system call") ? ": use a newer "
                           "gdb with --gdb PATH (18.1 does this right), or "
                           "start the program under `python -m heapdig run "
                           "--on-signal USR2`"
                           : "");
    return 0;
}

/* The script the target runs and the directory it reports in; the
 * target may be another user (when we are root), so they become its. */
static int
prepare(attach_run *a)
{
    char proc[64];
    struct stat st;
    snprintf(a->dir, sizeof(a->dir), "/tmp/heapdig-attach-XXXXXX");
    if (mkdtemp(a->dir) == NULL)
        return attach_fail(a->o->pid, "cannot create a directory in /tmp: "
                           "%s", strerror(errno));
    snprintf(a->script, sizeof(a->script), "%s/attach.py", a->dir);
    snprintf(a->status, sizeof(a->status), "%s/status.json", a->dir);
    /* Run in __main__'s namespace, which may have its own `open`: the
     * builtins by name, and nothing assigned there. */
    snprintf(a->boot, sizeof(a->boot), "try:\n    __import__('builtins')."
             "exec(__import__('builtins').open('%s').read(), {'__name__': "
             "'heapdig_attach'})\nexcept BaseException:\n    pass\n",
             a->script);
    snprintf(proc, sizeof(proc), "/proc/%ld", a->o->pid);
    a->deadline = now() + a->o->timeout;
    if (write_script(a->script, a->status, a->out, a->ext, a->deadline,
                     !a->o->foreground) < 0 ||
        (stat(proc, &st) == 0 && st.st_uid != geteuid() &&
         (chown(a->dir, st.st_uid, st.st_gid) < 0 ||
          chown(a->script, st.st_uid, st.st_gid) < 0))) {
        int rc = attach_fail(a->o->pid, "cannot prepare %s: %s", a->dir,
                             strerror(errno));
        finish_dir(a->dir, 0);
        return rc;
    }
    return 0;
}

/* Asks the target to run the script: sys.remote_exec on 3.14+, else (or
 * where the target disabled it) gdb.  0, or the exit code. */
static int
start(attach_run *a)
{
    char err[2048];
    long pid = a->o->pid;
    if (a->minor >= ATTACH_MIN_MINOR) {
        const char *base = strrchr(a->exe, '/');
        if (remote_exec(pid, a->minor,
                        minor_in(base ? base : a->exe) == a->minor,
                        a->script, err, sizeof(err)) == 0) {
            a->async_ways++;
        } else if (!strstr(err, "not enabled") || !gdb_usable(a)) {
            finish_dir(a->dir, 0);
            int disabled = strstr(err, "not enabled") != NULL;
            return attach_fail(pid, "sys.remote_exec failed: %s%s%s", err,
                               disabled ? " (the target runs with "
                               "PYTHON_DISABLE_REMOTE_DEBUG or -X "
                               "disable-remote-debug), and gdb cannot stand "
                               "in: " : "", disabled ? a->gdb_why : "");
        }
    }
    if (a->async_ways == 0 && via_gdb(a, 1, err, sizeof(err)) < 0) {
        finish_dir(a->dir, 0);
        if (gone(pid))
            return attach_fail(pid, "the process exited during the attach");
        return attach_fail(pid, "%s", err);
    }
    return 0;
}

/* Waits for the target's status.  A way in that waits for the main
 * thread's next bytecode may wait for ever if that thread waits in a
 * system call: then look again, and run the script at once where that is
 * safe.  0 with *objects, or the exit code. */
static int
wait_for_dump(attach_run *a, long long *objects)
{
    char err[2048], safe[2048];
    long pid = a->o->pid;
    double next_look = now() + 1.0, look_every = 1.0;
    int told = 0;
    for (;;) {
        int r = read_status(a->status, objects, err, sizeof(err));
        if (r == 1)
            return 0;
        if (r == 0) {
            hd_text_escape(safe, sizeof(safe), err, strlen(err),
                           HD_TEXT_RENDERED, 300); /* the target's words */
            finish_dir(a->dir, a->async_ways > 0);
            unlink(a->out);
            return attach_fail(pid, "the dump failed in the target: %s",
                               safe);
        }
        if (gone(pid)) {
            finish_dir(a->dir, 0);
            return attach_fail(pid, "the process exited during the attach");
        }
        if (now() > a->deadline && exists(a->dir, "claimed")) {
            /* The dump is under way in the target: it is waited for. */
            if (!told)
                fprintf(stderr, "heapdig: attach %ld: the dump is under way "
                        "in the target; waiting for it\n", pid);
            told = 1;
        } else if (now() > a->deadline) {
            /* What is still queued in the target does nothing past the
             * deadline but remove the script. */
            finish_dir(a->dir, a->async_ways > 0);
            return attach_fail(pid, "timed out after %g s: the target did "
                               "not reach a point where it runs Python code "
                               "(its main thread may be blocked in a system "
                               "call while holding the GIL, or busy in C "
                               "code)%s%s; nothing was dumped, and nothing "
                               "will be", a->o->timeout,
                               a->gdb_state < 0 ? "; gdb could not help: "
                                                : "",
                               a->gdb_state < 0 ? a->gdb_why : "");
        }
        if (now() > next_look && !exists(a->dir, "claimed") &&
            (a->gdb_state > 0 || (a->gdb_state == 0 && gdb_usable(a)))) {
            if (via_gdb(a, 0, err, sizeof(err)) < 0) {
                finish_dir(a->dir, a->async_ways > 0);
                if (gone(pid))
                    return attach_fail(pid, "the process exited during "
                                       "the attach");
                return attach_fail(pid, "%s", err);
            }
            /* each look stops the target for a moment: look less often */
            next_look = now() + (look_every *= 2);
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int
run(int argc, char **argv)
{
    attach_opts o;
    attach_run a;
    long long objects = 0;
    struct stat st;
    int rc;

    if ((rc = parse(&o, argc, argv)))
        return rc;
    signal(SIGPIPE, SIG_IGN); /* a gdb that dies is an error, not our end */
    memset(&a, 0, sizeof(a));
    a.o = &o;
    if ((rc = check_target(&a)) || (rc = prepare(&a)) || (rc = start(&a)) ||
        (rc = wait_for_dump(&a, &objects)))
        return rc;
    finish_dir(a.dir, a.async_ways > 1 || (a.async_ways == 1 && a.gdb_ran));
    if (stat(a.out, &st) < 0)
        return attach_fail(o.pid, "the target reported a dump but %s is "
                           "missing", a.out);
    printf("%s: %lld objects from pid %ld (Python 3.%d)\n", a.out, objects,
           o.pid, a.minor);
    return HD_EXIT_OK;
}

const hd_cmd hd_cmd_attach = {
    "attach", "dump a running Python process without preparing it",
    "PID [-o FILE] [--foreground] [--timeout SECONDS] [--pythonpath DIR] "
    "[--gdb PATH|none]",
    run};
