/*
 * src/http/body_spool.h — h2o's request-body spool files on a full disk:
 * refuse early where the library lets us, leak nothing where it does not.
 *
 * libh2o 2.2.5 keeps a request body in an h2o_buffer_t that doubles as it
 * grows (4 KiB free before each read). Once the doubled capacity reaches
 * h2o_socket_buffer_mmap_settings.threshold (32 MiB) the buffer moves to a
 * file made with mkstemp() from ...fn_template, unlinked at once,
 * posix_fallocate()d to the whole capacity plus a page, and mapped; later
 * doublings posix_fallocate the same file further. So a body of N bytes
 * takes the next power of two of N (+ headers + 4 KiB) on disk while it is
 * received: 32 MiB for a 17 MiB body, 64 MiB for a 40 MiB one.
 *
 * When the first posix_fallocate (or the mmap after it) fails, h2o
 * (lib/common/memory.c, h2o_buffer_reserve) returns "out of memory" without
 * closing the new descriptor: the deleted file and whatever it had allocated
 * stay until the process ends, and the connection is dropped without an
 * answer. The executable defines the two libc functions libh2o calls
 * through its PLT (CMakeLists.txt exports them like phr_parse_request):
 *
 *  - mkstemp() runs libc's and, when the template is h2o's (starts with the
 *    fn_template's directory and "/h2o.body."), remembers the descriptor as
 *    this thread's fresh spool file. Any other caller is passed through.
 *  - posix_fallocate() runs libc's; when it fails on this thread's fresh
 *    spool file, it closes the descriptor (h2o keeps it only in a local and
 *    never touches it after this failure), counts the failure and logs one
 *    line. On success the file belongs to h2o's buffer from then on (h2o
 *    closes it when the buffer is freed): it is forgotten. A failure while a
 *    spooled buffer grows further is not ours to close: h2o frees that
 *    buffer, and its file, with the connection.
 *
 * Before that, for an HTTP/1 request with a Content-Length,
 * body_spool_refusal() (called by phr_parse_request in request_framing.c,
 * after the headers are parsed and before h2o reads the body) computes the
 * spool file the body will need and compares it with statvfs() of the spool
 * directory. When it does not fit, the request is handed to h2o without its
 * body (request_framing.h's marker) and the handler answers 503 UNAVAILABLE
 * and closes the connection. A client that reads while it sends (curl, Go's
 * net/http) sees the answer; one that only reads after sending may see its
 * send fail. Chunked and HTTP/2 bodies announce no length: for them the
 * library gives no chance to answer, and a spool that cannot be allocated
 * still drops the connection (without leaking). The check is not a
 * reservation: concurrent uploads may each see enough space.
 *
 *     const char *why = request_framing_refusal(req);
 *     if (why != NULL && body_spool_is_refusal(why)) -> 503, close
 */
#ifndef CAIRN_SRC_HTTP_BODY_SPOOL_H
#define CAIRN_SRC_HTTP_BODY_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/* The disk bytes h2o's spool file takes for a request of `request_bytes`
 * (headers and body), 0 when the body stays in memory. */
uint64_t body_spool_file_bytes(uint64_t request_bytes);

/* NULL when a body of `content_length` bytes after `header_bytes` of
 * headers fits in the spool directory (or stays in memory); otherwise the
 * refusal text, which body_spool_is_refusal() recognises. */
const char *body_spool_refusal(uint64_t content_length, size_t header_bytes);
int body_spool_is_refusal(const char *why);

#endif
