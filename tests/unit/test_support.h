/* Helpers shared by the unit tests: temporary roots and small file utilities. */
#ifndef CAIRN_TEST_SUPPORT_H
#define CAIRN_TEST_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/digest.h"

#define HEX_A "aaaa0000aaaa0000aaaa0000aaaa0000aaaa0000aaaa0000aaaa0000aaaa0000"
#define HEX_B "bbbb1111bbbb1111bbbb1111bbbb1111bbbb1111bbbb1111bbbb1111bbbb1111"
#define HEX_C "cccc2222cccc2222cccc2222cccc2222cccc2222cccc2222cccc2222cccc2222"
#define HEX_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX512_A HEX_A HEX_A

/* A fresh directory under /tmp (free with support_root_remove). */
static inline char *support_root_create(void)
{
    char template[] = "/tmp/cairn-unit-XXXXXX";
    assert_non_null(mkdtemp(template));
    return strdup(template);
}

static inline void support_root_remove(char *root)
{
    assert_int_equal(directory_remove_tree(root), 0);
    assert_int_equal(access(root, F_OK), -1);
    free(root);
}

static inline struct digest support_digest(const char *text)
{
    struct digest digest;
    assert_int_equal(digest_parse(text, strlen(text), &digest), 0);
    return digest;
}

static inline void support_path(char out[PATH_MAX], const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static inline void support_path(char out[PATH_MAX], const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(out, PATH_MAX, format, arguments);
    va_end(arguments);
    assert_true(length > 0 && length < PATH_MAX);
}

/* Writes `length` bytes to `path`, creating its parents (not atomically: the
 * tests use it to plant arbitrary content). */
static inline void support_write(const char *path, const void *data, size_t length)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    *strrchr(parent, '/') = '\0';
    assert_int_equal(directory_create(parent), 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, length), (ssize_t)length);
    assert_int_equal(close(fd), 0);
}

static inline void support_write_string(const char *path, const char *text)
{
    support_write(path, text, strlen(text));
}

/* Reads a whole (small) file; the result is NUL-terminated and malloc'd. */
static inline char *support_read(const char *path, size_t *length_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    char *data = malloc(65536);
    assert_non_null(data);
    ssize_t n = read(fd, data, 65535);
    assert_true(n >= 0);
    close(fd);
    data[n] = '\0';
    if (length_out != NULL)
        *length_out = (size_t)n;
    return data;
}

static inline void support_mkdir(const char *path)
{
    assert_int_equal(directory_create(path), 0);
}

static inline int support_exists(const char *path)
{
    struct stat status;
    return lstat(path, &status) == 0;
}

#endif
