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

#include "layout/digest.h"

int link_file_read(const char *path, struct digest *out);
/* What link_file_read() does with the bytes it read: `content` (`length`
 * bytes, any bytes) must be exactly one digest string. 0, or -EINVAL with
 * the reason in error_message(). */
int link_file_parse(const char *content, size_t length, struct digest *out);
int link_file_write(const char *path, const struct digest *digest);
/* Removes a link and the directory that holds it (every link lives alone in
 * a directory named after a digest or a tag's "current"), fsyncs the parent,
 * then removes parents left empty up to, not including, `stop_at`. */
int link_file_remove(const char *path, const char *stop_at);

/* Whether a link file exists (1), does not (0), or cannot be checked (<0). */
int link_file_exists(const char *path);

#endif
