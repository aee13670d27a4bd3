/* src/http/body_spool.h */
/* libh2o calls mkstemp and posix_fallocate by these names; with 64-bit
 * offsets the headers would rename the definitions to ...64 (off_t is 64 bits
 * on the LP64 targets cairn builds for either way). */
#undef _FILE_OFFSET_BITS
#include "src/http/body_spool.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <h2o.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "src/observe/access_log.h"
#include "src/observe/metrics.h"

#define SPOOL_NAME "/h2o.body."

static const char refusal_text[] = "not enough disk space to receive the request body";
static _Thread_local int fresh_spool_fd = -1;

typedef int (*mkstemp_function)(char *);
typedef int (*fallocate_function)(int, off_t, off_t);
static mkstemp_function libc_mkstemp;
static fallocate_function libc_posix_fallocate;
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;

static void look_up_libc(void)
{
    libc_mkstemp = (mkstemp_function)dlsym(RTLD_NEXT, "mkstemp");
    libc_posix_fallocate = (fallocate_function)dlsym(RTLD_NEXT, "posix_fallocate");
}

/* The length of the spool directory in fn_template, 0 when unset. */
static size_t spool_directory_length(void)
{
    const char *template = h2o_socket_buffer_mmap_settings.fn_template;
    const char *slash = strrchr(template, '/');
    return slash != NULL ? (size_t)(slash - template) : 0;
}

static int is_spool_template(const char *path)
{
    size_t length = spool_directory_length();
    return length != 0 && strncmp(path, h2o_socket_buffer_mmap_settings.fn_template, length) == 0 &&
           strncmp(path + length, SPOOL_NAME, sizeof SPOOL_NAME - 1) == 0;
}

int mkstemp(char *template)
{
    pthread_once(&lookup_once, look_up_libc);
    if (libc_mkstemp == NULL) {
        errno = ENOSYS;
        return -1;
    }
    int fd = libc_mkstemp(template);
    if (fd >= 0 && is_spool_template(template))
        fresh_spool_fd = fd;
    return fd;
}

int posix_fallocate(int fd, off_t offset, off_t length)
{
    pthread_once(&lookup_once, look_up_libc);
    if (libc_posix_fallocate == NULL)
        return ENOSYS;
    int result = libc_posix_fallocate(fd, offset, length);
    if (fd != fresh_spool_fd || fd < 0)
        return result;
    fresh_spool_fd = -1;
    if (result != 0) {
        close(fd); /* h2o drops its only copy of fd after this failure */
        metrics_request_body_spool_failed();
        log_message(LOG_LEVEL_WARN,
                    "request body spool file of %lld bytes: %s (connection dropped)",
                    (long long)length, strerror(result));
    }
    return result;
}

uint64_t body_spool_file_bytes(uint64_t request_bytes)
{
    uint64_t threshold = h2o_socket_buffer_mmap_settings.threshold;
    uint64_t page = 4096, capacity = H2O_SOCKET_INITIAL_INPUT_BUFFER_SIZE;
    /* h2o reads with 4 KiB free and doubles the capacity when short */
    while (capacity < request_bytes + page && capacity < (UINT64_C(1) << 62))
        capacity *= 2;
    if (capacity < threshold)
        return 0;
    return capacity + page; /* the buffer's header rounded to a page */
}

const char *body_spool_refusal(uint64_t content_length, size_t header_bytes)
{
    uint64_t need = body_spool_file_bytes(content_length + header_bytes);
    if (need == 0)
        return NULL; /* the body stays in memory */
    size_t length = spool_directory_length();
    char directory[sizeof h2o_socket_buffer_mmap_settings.fn_template];
    memcpy(directory, h2o_socket_buffer_mmap_settings.fn_template, length);
    directory[length] = '\0';
    struct statvfs fs;
    if (length == 0 || statvfs(directory, &fs) != 0)
        return NULL; /* cannot tell: let h2o try */
    uint64_t available = (uint64_t)fs.f_bavail * fs.f_frsize;
    return available < need ? refusal_text : NULL;
}

int body_spool_is_refusal(const char *why)
{
    return why == refusal_text;
}
