/*
 * layout/link_file.h — Distribution's link files.
 *
 * A link file holds exactly one digest string ("sha256:<64 hex>"), with no
 * newline. Reading validates it (a link with garbage is -EINVAL, never a
 * half-trusted digest); writing is atomic and durable (atomic_file.h).
 *
 *     struct digest target;
 *     int result = link_file_read(path, &target);   // -ENOENT: no link
 */
#ifndef CAIRN_LAYOUT_LINK_FILE_H
#define CAIRN_LAYOUT_LINK_FILE_H

#include <sys/types.h>
#include <time.h>

#include "layout/digest.h"

int link_file_read(const char *path, struct digest *out);
/* What link_file_read() does with the bytes it read: `content` (`length`
 * bytes, any bytes) must be exactly one digest string. 0, or -EINVAL with
 * the reason in error_message(). */
int link_file_parse(const char *content, size_t length, struct digest *out);
int link_file_write(const char *path, const struct digest *digest);
/* A link inside a staging directory: atomic_file_write_staged() (not
 * fsynced: the caller makes the staging tree durable). */
int link_file_write_staged(const char *path, const struct digest *digest);
/* Removes a link and the directory that holds it (every link lives alone in
 * a directory named after a digest or a tag's "current"), fsyncs the parent,
 * then removes parents left empty up to, not including, `stop_at`. */
int link_file_remove(const char *path, const char *stop_at);

/* Whether a link file exists (1), does not (0), or cannot be checked (<0). */
int link_file_exists(const char *path);

/*
 * Stamps: which version of a link file was read. Links are never written in
 * place, only replaced by a rename of a new file (atomic_file.h) or removed,
 * so a replaced link is another inode with new change times: when the stamp
 * of a path is what it was when its bytes were read, it still holds those
 * bytes. One stat() then tells a cache of links whether it may answer
 * (src/registry/link_cache.h). The stamp compares device, inode, size and
 * the modification and change times with their full (nanosecond)
 * precision; on a filesystem with coarse times an inode freed and reused
 * by the next replacement within the same tick would look unchanged.
 */
struct link_stamp {
    dev_t device;
    ino_t inode;
    off_t size;
    struct timespec modified;
    struct timespec changed;
};

/* link_file_read() that also stamps what it read (fstat() of the open file,
 * so the stamp belongs to the bytes, whatever renames happen meanwhile). */
int link_file_read_stamped(const char *path, struct digest *out, struct link_stamp *stamp);
/* The stamp of the link at `path` now: 0; -ENOENT when there is none (also
 * when a directory on the way is missing); another negative errno if it
 * cannot be looked at. Sets the message. */
int link_file_stamp(const char *path, struct link_stamp *stamp);
/* 1 when both stamps are of the same version of a link. */
int link_stamp_equal(const struct link_stamp *a, const struct link_stamp *b);

#endif
