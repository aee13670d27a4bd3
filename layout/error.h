/*
 * layout/error.h — the message that explains the last failure of this thread.
 *
 * Every function in layout/ and drivers/ returns 0 on success or a negative
 * errno value on failure (-EINVAL for bad input, -ENOENT for something that is
 * not there, an I/O errno passed through). Before it returns a failure it calls
 * error_set(), so that the caller can log error_message() or put it in an HTTP
 * error body. The message is thread-local: it is valid until the same thread
 * calls error_set() again.
 *
 *     int result = link_file_read(path, &digest);
 *     if (result < 0)
 *         log("cannot read tag: %s", error_message());
 */
#ifndef CAIRN_LAYOUT_ERROR_H
#define CAIRN_LAYOUT_ERROR_H

#define ERROR_MESSAGE_MAX 512

/* Formats the thread's message and returns `code` unchanged, so that callers
 * can write `return error_set(-EINVAL, "bad tag %s", tag);`. */
int error_set(int code, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* The last message set on this thread ("" when none). */
const char *error_message(void);

#endif
