/* heapdig — MIT licence.
 *
 * attach.h: how `heapdig attach` gets code into a target it did not start,
 * for the CPythons that have no sys.remote_exec (3.9-3.13): through gdb.
 * cmd_attach.c owns the command, the script and waiting for its status;
 * attach_gdb.c owns the debugger.
 */
#ifndef HEAPDIG_ATTACH_H
#define HEAPDIG_ATTACH_H

#include <stddef.h>

/* What gdb_inject did. */
enum {
    GDB_FAILED = -1, /* err says why; the target was left as it was */
    GDB_RAN = 0,     /* the code ran in the main thread, now */
    GDB_QUEUED = 1,  /* the code waits as a pending call for the main thread's
                      * next bytecode boundary */
    GDB_BUSY = 2     /* nothing done: the main thread holds the GIL (or
                      * cannot be told not to); try again later */
};

/* Tries gdb on a throwaway child of ours blocked in clock_nanosleep, the
 * way a sleeping target is: attach, one inferior call, detach, and checks
 * that the child's sleep comes back as it should (EINTR on a signal, not
 * a leaked ERESTART code) and that gdb wrote the registers back.  Some gdbs
 * cannot restore a CPU's extended register state (Debian 12's 13.1 with
 * AMX): they must never touch a real target.  0, or -1 with err filled. */
int gdb_probe(const char *gdb, char *err, size_t n);

/* Attaches gdb to pid and has the main thread run `code` (Python source
 * that never raises) at a safe point: at once through PyGILState_Ensure
 * when the main thread waits in a system call with the GIL free, else (if
 * may_queue) as a pending call run at its next bytecode boundary.  Never
 * runs Python from an arbitrary stop point; always detaches. */
int gdb_inject(const char *gdb, long pid, const char *code, int may_queue,
               char *err, size_t n);

#endif
