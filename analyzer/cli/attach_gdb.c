/* heapdig — MIT licence.
 *
 * attach_gdb.c: getting Python code into a CPython 3.9-3.13 process that
 * was never prepared for it, through gdb.
 *
 * gdb runs as a child reading commands from a pipe; each command is followed
 * by an `echo` of a marker, so its reply is what comes before the marker.
 * Only functions CPython documents as callable without the GIL, or the
 * documented way to take it, are called, and their types are spelled out
 * so that an interpreter without debug information (Debian's) works:
 *
 *  - The main thread waits in a system call (sleep, a lock, I/O) and no
 *    thread holds the GIL: PyGILState_Ensure + PyRun_SimpleString +
 *    PyGILState_Release on the main thread, which is what any C callback
 *    does between Py_BEGIN/END_ALLOW_THREADS.  The wait resumes after.
 *  - Otherwise Py_AddPendingCall(PyRun_SimpleString, code) queues the code
 *    for the main thread's next bytecode boundary, where the interpreter
 *    runs signal handlers: the same safe point.
 *
 * Inferior calls that only read run with scheduler-locking on (the other
 * threads stay stopped, so what was read stays true); the ones that run
 * Python let the other threads run, so a thread holding the GIL or a lock
 * can let go of it.  gdb is never killed while a call runs Python (the
 * thread would return into gdb's breakpoint): heapdig holds back SIGINT,
 * SIGTERM, SIGHUP and SIGQUIT while gdb is attached, and gdb passes every
 * signal the target gets straight on, so none abandons a call.
 *
 * Before a real target, gdb_probe tries the debugger on a throwaway child:
 * Debian 12's gdb 13.1 cannot write this kind of CPU's extended register
 * state back ("Couldn't write extended state status"), and the sleeping
 * target's system call then returns ERESTART_RESTARTBLOCK (errno 514)
 * into Python.
 */
#define _GNU_SOURCE /* prctl, pipe2 */
#include "attach.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MARK "@@heapdig-gdb@@"
#define STARTUP_TIMEOUT 60.0 /* gdb loading a big binary's symbols */
#define READ_TIMEOUT 30.0    /* a command that runs no Python */
#define NO_TIMEOUT (-1.0)    /* a call running Python: wait for it */

typedef struct gdb_session {
    pid_t pid;
    int to_gdb, from_gdb;
    char reply[65536];
    size_t len;
} gdb_session;

static double
mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- The session ---------------------------------------------------------- */

/* Starts gdb for target (whose files gdb reads through /proc/PID/root, so
 * that a gdb in another root or a target in a container still finds the
 * right libraries). */
static int
session_start(gdb_session *s, const char *gdb, long target, char *err,
              size_t n)
{
    int in[2], out[2];
    char sysroot[64];
    memset(s, 0, sizeof(*s));
    s->pid = -1;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        return snprintf(err, n, "pipe: %s", strerror(errno)), -1;
    snprintf(sysroot, sizeof(sysroot), "set sysroot /proc/%ld/root", target);
    if ((s->pid = fork()) == 0) {
        /* Its own process group: a Ctrl-C meant for heapdig must not reach
         * gdb in the middle of a call. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* gdb gets its own mask */
        setpgid(0, 0);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        execlp(gdb, gdb, "-nx", "-q", "-iex", "set debuginfod enabled off",
               "-iex", "set auto-load off", "-iex", "set pagination off",
               "-iex", "set width 0", "-iex", "set confirm off", "-iex",
               "set print inferior-events off", "-iex",
               "set print thread-events off",
               /* A signal the target gets while a call runs must not make
                * gdb abandon the call (the target would then return into
                * nothing): pass every one straight on. */
               "-iex", "handle all nostop noprint pass", "-iex",
               "handle SIGINT nostop noprint pass", "-iex", sysroot,
               (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n" MARK "\n", gdb, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->to_gdb = in[1];
    s->from_gdb = out[0];
    if (s->pid < 0) {
        close(in[1]);
        close(out[0]);
        return snprintf(err, n, "fork: %s", strerror(errno)), -1;
    }
    return 0;
}

/* Sends one command and reads its reply into s->reply; 0, or -1 when gdb
 * died or the reply did not come in time (err filled). */
static int
session_cmd(gdb_session *s, double timeout, char *err, size_t n,
            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
session_cmd(gdb_session *s, double timeout, char *err, size_t n,
            const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line, sizeof(line) - 64, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof(line) - 64)
        return snprintf(err, n, "gdb command too long"), -1;
    k += snprintf(line + k, sizeof(line) - (size_t)k, "\necho " MARK "\\n\n");
    if (getenv("HEAPDIG_ATTACH_DEBUG")) /* what gdb is asked, and when */
        fprintf(stderr, "heapdig: gdb %.3f: %.*s\n", mono(),
                (int)strcspn(line, "\n"), line);
    if (write(s->to_gdb, line, (size_t)k) != k)
        return snprintf(err, n, "gdb exited (%s)", strerror(errno)), -1;
    s->len = 0;
    double until = timeout < 0 ? 0 : mono() + timeout;
    for (;;) {
        s->reply[s->len] = 0;
        char *m = strstr(s->reply, MARK "\n");
        if (m) {
            *m = 0;
            s->len = (size_t)(m - s->reply);
            return 0;
        }
        int wait_ms = -1;
        if (timeout >= 0) {
            double left = until - mono();
            if (left <= 0)
                return snprintf(err, n, "gdb did not answer `%.60s` within "
                                "%g s", line, timeout), -1;
            wait_ms = (int)(left * 1000) + 1;
        }
        struct pollfd p = {s->from_gdb, POLLIN, 0};
        int r = poll(&p, 1, wait_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        if (s->len + 1 >= sizeof(s->reply)) /* keep the tail */
            memmove(s->reply, s->reply + sizeof(s->reply) / 2,
                    s->len -= sizeof(s->reply) / 2);
        ssize_t got = read(s->from_gdb, s->reply + s->len,
                           sizeof(s->reply) - 1 - s->len);
        if (got <= 0) {
            s->reply[s->len] = 0;
            return snprintf(err, n, "gdb exited: %.400s", s->reply), -1;
        }
        s->len += (size_t)got;
    }
}

/* Runs `printf "HDV %ld\n", (long)(expr)`; 0 with *v, or -1 with gdb's
 * words in err (a missing symbol, a failed call). */
static int
session_value(gdb_session *s, double timeout, long *v, char *err, size_t n,
              const char *expr)
{
    if (session_cmd(s, timeout, err, n, "printf \"HDV %%ld\\n\", (long)(%s)",
                    expr) < 0)
        return -1;
    const char *p = strstr(s->reply, "HDV ");
    if (p == NULL) {
        char *nl;
        while ((nl = strchr(s->reply, '\n')) && nl[1] == 0)
            *nl = 0;
        return snprintf(err, n, "gdb: %.300s", s->reply), -1;
    }
    *v = strtol(p + 4, NULL, 10);
    return 0;
}

/* Ends gdb: end of input makes it detach and quit.  Waits for it (a call
 * running Python is never cut short). */
static void
session_end(gdb_session *s)
{
    int status;
    if (s->pid <= 0)
        return;
    close(s->to_gdb);
    close(s->from_gdb);
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
        ;
    s->pid = -1;
}

/* Says why gdb could not attach, from its words and what /proc tells. */
static void
explain_attach(const char *reply, long pid, char *err, size_t n)
{
    char path[64], line[256];
    long tracer = 0;
    FILE *f;
    if (strstr(reply, "No such process")) {
        snprintf(err, n, "the process exited during the attach");
        return;
    }
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    if ((f = fopen(path, "r")) != NULL) {
        while (fgets(line, sizeof(line), f))
            if (!strncmp(line, "TracerPid:", 10))
                tracer = atol(line + 10);
        fclose(f);
    }
    if (tracer > 0) {
        snprintf(err, n, "it is already being traced by pid %ld (a debugger "
                 "or strace); detach that first", tracer);
        return;
    }
    if (strstr(reply, "not permitted")) {
        int scope = -1;
        if ((f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r")) != NULL) {
            if (fscanf(f, "%d", &scope) != 1)
                scope = -1;
            fclose(f);
        }
        if (scope > 0 && geteuid() != 0)
            snprintf(err, n, "permission denied: ptrace_scope is %d, which "
                     "lets only root attach to a process it did not start; "
                     "run heapdig attach as root, or (for everyone) sysctl "
                     "kernel.yama.ptrace_scope=0", scope);
        else
            snprintf(err, n, "permission denied by ptrace: heapdig runs in "
                     "a container or sandbox without CAP_SYS_PTRACE (docker: "
                     "--cap-add=SYS_PTRACE), or a security module (seccomp, "
                     "SELinux, AppArmor) forbids it");
        return;
    }
    snprintf(err, n, "gdb could not attach: %.300s", reply);
}

static int
session_attach(gdb_session *s, long pid, char *err, size_t n)
{
    if (session_cmd(s, STARTUP_TIMEOUT, err, n, "attach %ld", pid) < 0)
        return -1;
    if (strstr(s->reply, "ptrace:") || strstr(s->reply, "No such process") ||
        strstr(s->reply, "Can't attach") || strstr(s->reply, "Couldn't")) {
        explain_attach(s->reply, pid, err, n);
        return -1;
    }
    return 0;
}

/* ---- The probe -------------------------------------------------------------- */

static void
on_usr1(int sig)
{
    (void)sig;
}

/* The throwaway child: sleeps as time.sleep does (clock_nanosleep until an
 * absolute time) and reports how its sleep ended. */
static void
probe_child(int ready, int result)
{
    struct sigaction sa;
    struct timespec until;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1; /* no SA_RESTART: a signal ends the sleep */
    sigaction(SIGUSR1, &sa, NULL);
#ifdef PR_SET_PTRACER
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0); /* Yama scope 1 */
#endif
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 3600; /* longer than any gdb takes to start */
    if (write(ready, "r", 1) != 1)
        _exit(1);
    int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    if (write(result, &r, sizeof(r)) != sizeof(r))
        _exit(1);
    _exit(0);
}

/* Whether gdb's last reply says it could not read or write the registers
 * (err filled). */
static int
register_trouble(gdb_session *s, const char *gdb, char *err, size_t n)
{
    char *p = strstr(s->reply, "Couldn't");
    if (p == NULL)
        p = strstr(s->reply, "Cannot access");
    if (p == NULL)
        return 0;
    char *nl = strchr(p, '\n');
    if (nl)
        *nl = 0;
    snprintf(err, n, "%s cannot restore a process's registers after a call "
             "on this machine (it says: %.200s)", gdb, p);
    return 1;
}

/* Reads an int from fd within ms milliseconds; 1, 0 if none came. */
static int
read_int(int fd, int *v, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return 0;
    return read(fd, v, sizeof(*v)) == sizeof(*v);
}

int
gdb_probe(const char *gdb, char *err, size_t n)
{
    int ready[2], result[2], r = -1, code, status;
    long got = 0;
    char c, why[1024];
    gdb_session s = {.pid = -1};
    pid_t child;

    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(result, O_CLOEXEC) < 0)
        return snprintf(err, n, "pipe: %s", strerror(errno)), -1;
    if ((child = fork()) == 0)
        probe_child(ready[1], result[1]);
    close(ready[1]);
    close(result[1]);
    if (child < 0 || read(ready[0], &c, 1) != 1) {
        snprintf(err, n, "cannot start the probe process");
        goto done;
    }
    struct timespec settle = {0, 20 * 1000000L}; /* into its sleep */
    nanosleep(&settle, NULL);
    if (session_start(&s, gdb, child, why, sizeof(why)) < 0 ||
        session_attach(&s, child, why, sizeof(why)) < 0) {
        snprintf(err, n, "%s cannot attach to a process: %s", gdb, why);
        goto done;
    }
    if (session_value(&s, READ_TIMEOUT, &got, why, sizeof(why),
                      "((int(*)(void))getpid)()") < 0 || got != child) {
        if (!register_trouble(&s, gdb, err, n))
            snprintf(err, n, "%s cannot call a function in a process (%s)",
                     gdb, got ? "a wrong answer" : why);
        goto done;
    }
    if (register_trouble(&s, gdb, err, n))
        goto done;
    if (session_cmd(&s, READ_TIMEOUT, why, sizeof(why), "detach") < 0) {
        snprintf(err, n, "%s: %s", gdb, why);
        goto done;
    }
    if (register_trouble(&s, gdb, err, n))
        goto done;
    session_end(&s);
    /* A sound debugger restarted the sleep: it still sleeps, and a signal
     * ends it with EINTR.  A broken one leaks the kernel's restart code. */
    if (read_int(result[0], &code, 100)) {
        snprintf(err, n, "%s broke a sleeping process's system call: after "
                 "its call the sleep returned %d (%s) instead of resuming",
                 gdb, code, code > 511 ? "a kernel-internal restart code" :
                 strerror(code));
        goto done;
    }
    kill(child, SIGUSR1);
    if (!read_int(result[0], &code, 5000) || code != EINTR) {
        snprintf(err, n, "%s left a sleeping process unable to wake: a "
                 "signal ended its sleep with %d, not EINTR", gdb, code);
        goto done;
    }
    r = 0;
done:
    session_end(&s);
    if (child > 0) {
        kill(child, SIGKILL);
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
    }
    close(ready[0]);
    close(result[0]);
    return r;
}

/* ---- Injecting ------------------------------------------------------------- */

/* System calls (x86-64 numbers) a thread waits in: running Python on top of
 * one is what a callback does.  Not mmap, brk and the like, which glibc's
 * malloc makes while holding its own locks. */
static int
is_wait_syscall(long nr)
{
    static const long waits[] = {
        0 /* read */,          1 /* write */,       7 /* poll */,
        19 /* readv */,        23 /* select */,     34 /* pause */,
        35 /* nanosleep */,    42 /* connect */,    43 /* accept */,
        44 /* sendto */,       45 /* recvfrom */,   46 /* sendmsg */,
        47 /* recvmsg */,      61 /* wait4 */,      73 /* flock */,
        128 /* rt_sigtimedwait */, 130 /* rt_sigsuspend */, 202 /* futex */,
        230 /* clock_nanosleep */, 232 /* epoll_wait */, 247 /* waitid */,
        270 /* pselect6 */,    271 /* ppoll */,     281 /* epoll_pwait */,
        288 /* accept4 */,     299 /* recvmmsg */,  441 /* epoll_pwait2 */,
    };
    for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
        if (nr == waits[i])
            return 1;
    return 0;
}

/* Whether the main thread (selected) holds the GIL: 1, 0, or -1 if that
 * cannot be told (PyGILState_Check answers 1 everywhere once disabled by a
 * subinterpreter, so the other threads are asked too); -2 if gdb failed.
 * Only the main thread's own answer matters for running code on it at
 * once: PyGILState_Ensure waits properly for any other holder. */
static int
main_holds_gil(gdb_session *s, int *threads, char *err, size_t n)
{
    int ones = 0, answers = 0, main;
    long v;
    char why[256];
    *threads = 0;
    if (session_value(s, READ_TIMEOUT, &v, err, n,
                      "((int(*)(void))PyGILState_Check)()") < 0)
        return -2;
    main = v != 0;
    if (session_cmd(s, READ_TIMEOUT, why, sizeof(why), "thread apply all -c "
                    "printf \"HDG %%d\\n\", ((int(*)(void))PyGILState_Check)()") <
        0)
        return snprintf(err, n, "%s", why), -2;
    for (char *line = strtok(s->reply, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "Thread ", 7))
            ++*threads;
        else if (!strncmp(line, "HDG ", 4)) {
            answers++;
            ones += atoi(line + 4) == 1;
        }
    }
    if (answers > 1 && ones == answers)
        return -1;
    return main;
}

/* Whether the selected thread's futex wait is a Python lock's, which
 * waits with the GIL released (threading.Lock.acquire and friends:
 * PyThread_acquire_lock before 3.14, a PyMutex parked on a semaphore
 * from 3.14), not the GIL's own condition variable or a C library lock. */
static int
waits_on_python_lock(gdb_session *s, char *err, size_t n)
{
    if (session_cmd(s, READ_TIMEOUT, err, n, "bt 12") < 0)
        return -1;
    return (strstr(s->reply, "PyThread_acquire_lock") != NULL ||
            strstr(s->reply, "_PySemaphore_Wait") != NULL) &&
           strstr(s->reply, "take_gil") == NULL;
}

/* Writes `code` as a C string literal gdb reads. */
static void
c_literal(char *out, size_t n, const char *code)
{
    size_t k = 0;
    for (; *code && k + 5 < n; code++) {
        unsigned char c = (unsigned char)*code;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f)
            k += (size_t)snprintf(out + k, n - k, "\\%03o", c);
        else
            out[k++] = (char)c;
    }
    out[k] = 0;
}

int
gdb_inject(const char *gdb, long pid, const char *code, int may_queue,
           char *err, size_t n)
{
    gdb_session s = {.pid = -1};
    char why[1024], lit[6000];
    long v, sysno = -1;
    int holds, threads, rc = GDB_FAILED;

    sigset_t block, old_mask;
    if (strlen(code) > 1000)
        return snprintf(err, n, "bootstrap too long"), GDB_FAILED;
    /* Ctrl-C or a kill meant for heapdig waits until gdb has detached:
     * leaving in the middle of a call would leave the target inside it. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGQUIT);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    if (session_start(&s, gdb, pid, err, n) < 0 ||
        session_attach(&s, pid, err, n) < 0)
        goto done;
    if (session_cmd(&s, READ_TIMEOUT, err, n, "set scheduler-locking on") <
            0 ||
        session_cmd(&s, READ_TIMEOUT, err, n, "thread 1") < 0)
        goto done;
    if (session_value(&s, READ_TIMEOUT, &v, why, sizeof(why),
                      "((int(*)(void))Py_IsInitialized)()") < 0) {
        snprintf(err, n, "gdb finds no CPython functions in it (%s)", why);
        goto done;
    }
    if (v == 0) {
        snprintf(err, n, "its interpreter is not running (starting up or "
                 "shutting down)");
        goto done;
    }
    if (session_value(&s, READ_TIMEOUT, &sysno, why, sizeof(why),
                      "$orig_rax") < 0)
        sysno = -1;
    if ((holds = main_holds_gil(&s, &threads, err, n)) == -2)
        goto done;
    int now = sysno >= 0 && is_wait_syscall(sysno) && holds == 0;
    if (now && sysno == 202 /* futex */ &&
        (now = waits_on_python_lock(&s, err, n)) < 0)
        goto done;
    if (!now && !may_queue) {
        rc = GDB_BUSY;
        goto done;
    }
    /* The code must outlive this session (a pending call runs later): a
     * page of its own, made by a system call, not by malloc, which may be
     * half-way through something in the stopped thread. */
    c_literal(lit, sizeof(lit), code);
    if (session_value(&s, READ_TIMEOUT, &v, why, sizeof(why),
                      "$hd_code = ((void*(*)(void*,unsigned long,int,int,int,"
                      "long))mmap)(0, 4096, 3, 0x22, -1, 0)") < 0 ||
        v == -1 || v == 0) {
        snprintf(err, n, "cannot map a page in it: %s", why);
        goto done;
    }
    if (session_cmd(&s, READ_TIMEOUT, err, n, "set {char[%zu]}$hd_code = \"%s\"",
                    strlen(code) + 1, lit) < 0)
        goto done;
    if (s.len > 0 && strstr(s.reply, "rror")) {
        snprintf(err, n, "cannot write the code into it: %.300s", s.reply);
        goto done;
    }
    /* From here the other threads run during each call. */
    if (session_cmd(&s, READ_TIMEOUT, err, n, "set scheduler-locking off") <
        0)
        goto done;
    if (now) {
        /* One command, so that nothing can come between taking the GIL
         * and giving it back; waited for however long the code runs.  The
         * code reports through its own status file and never raises. */
        if (session_value(&s, NO_TIMEOUT, &v, why, sizeof(why),
                          "($hd_gil = ((int(*)(void))PyGILState_Ensure)(), "
                          "$hd_rc = ((int(*)(const char*))PyRun_SimpleString)"
                          "((const char*)$hd_code), "
                          "((void(*)(int))PyGILState_Release)($hd_gil), "
                          "((int(*)(void*,unsigned long))munmap)($hd_code, "
                          "4096), $hd_rc)") < 0) {
            snprintf(err, n, "running the code failed: %s", why);
            goto done;
        }
        rc = GDB_RAN;
    } else {
        /* Queued from another thread where there is one: the main thread
         * may be the one holding the queue's lock. */
        if (threads > 1 &&
            session_cmd(&s, READ_TIMEOUT, err, n, "thread 2") < 0)
            goto done;
        if (session_value(&s, READ_TIMEOUT, &v, why, sizeof(why),
                          "((int(*)(void*,void*))Py_AddPendingCall)("
                          "(void*)PyRun_SimpleString, $hd_code)") < 0) {
            snprintf(err, n, "Py_AddPendingCall failed: %s", why);
            goto done;
        }
        rc = v == 0 ? GDB_QUEUED : GDB_BUSY; /* -1: the queue is full */
    }
    session_cmd(&s, READ_TIMEOUT, why, sizeof(why), "detach");
done:
    session_end(&s);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return rc;
}
