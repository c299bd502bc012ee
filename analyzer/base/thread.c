/* heapdig — MIT licence.
 *
 * thread.c: starting the analyzer's helper threads (the inflater) with
 * every signal blocked, so that a signal meant for
 * the process (Ctrl-C, kill) runs its handler in the caller's thread.
 * There the handler's cleanup cannot race a helper: one that is mid-way
 * through an open() would make again a file the handler just removed.
 */
#include "base/base.h"

#include <signal.h>

int
hd__thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg); /* inherits the full mask */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
