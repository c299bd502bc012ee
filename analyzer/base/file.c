/* heapdig — MIT licence.
 *
 * file.c: how the analyzer writes what it renders (pictures, reports): a
 * new file of mode 0600, as private as the dump it shows, written under a
 * temporary name and renamed only when every byte is on disk, so a reader
 * never sees half a file and a full disk is an error, not a short file.
 * The path "-" is standard output; a device or a pipe is written into.
 */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every byte to fd; 0 or an error naming what. */
static int
write_all(int fd, const char *what, const char *data, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = write(fd, data + done, n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return hd_error_set(HD_EIO, "cannot write %s: %s", what,
                                strerror(k < 0 ? errno : ENOSPC));
        done += (size_t)k;
    }
    return 0;
}

static int
write_new(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return hd_error_set(HD_EIO, "cannot create %s: %s", path,
                            strerror(errno));
    int err = write_all(fd, path, data, n);
    if (err < 0) {
        close(fd);
        return err;
    }
    if (close(fd) < 0)
        return hd_error_set(HD_EIO, "cannot write %s: %s", path,
                            strerror(errno));
    return 0;
}

int
hd__write_file_atomic(const char *path, const char *data, size_t n)
{
    size_t len = strlen(path) + 32;
    char *tmp;
    int err;
    if (strcmp(path, "-") == 0) /* "-o -": to standard output */
        return write_all(STDOUT_FILENO, "standard output", data, n);
    /* A device or a pipe is written into, as cp does: renaming a file over
     * /dev/null would replace the device. */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return hd_error_set(HD_EIO, "cannot write %s: it is a directory",
                            path);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return hd_error_set(HD_EIO, "cannot open %s: %s", path,
                                strerror(errno));
        err = write_all(fd, path, data, n);
        if (close(fd) < 0 && err == 0)
            err = hd_error_set(HD_EIO, "cannot write %s: %s", path,
                               strerror(errno));
        return err;
    }
    tmp = malloc(len);
    if (tmp == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    snprintf(tmp, len, "%s.tmp-%d", path, (int)getpid());
    if ((err = write_new(tmp, data, n)) < 0 || rename(tmp, path) < 0) {
        if (err == 0)
            err = hd_error_set(HD_EIO, "cannot write %s: %s", path,
                               strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return err;
}
