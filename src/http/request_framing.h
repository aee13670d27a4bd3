/*
 * src/http/request_framing.h — refusing ambiguous HTTP/1 request framing
 * (request smuggling) before any handler runs.
 *
 * libh2o 2.2.5 frames HTTP/1 requests with its copy of picohttpparser, which
 * is lenient: of two Content-Length headers the first wins, Transfer-Encoding
 * wins over Content-Length (with any case, and a tab after the colon), of two
 * Transfer-Encoding headers the last, and a chunk size "0x3" reads as 0 with
 * an extension. Where a proxy in front frames the same bytes the other way,
 * what it forwards as one request's body runs here as a request of its own.
 * RFC 9112 (6.1, 6.3, 7.1) asks for 400 and closing the connection instead.
 *
 * The executable defines the two picohttpparser functions libh2o frames with;
 * libh2o calls both through its PLT, so its calls bind to these definitions
 * (CMakeLists.txt exports them with --export-dynamic-symbol, as it does
 * SSL_read for ssl_interpose.h):
 *
 *  - phr_parse_request() runs the library's own parser (found with
 *    dlsym(RTLD_NEXT)), then looks once at the header names. A request with
 *    more than one Content-Length, a Content-Length that is not only digits,
 *    more than one Transfer-Encoding, one that is not exactly `chunked` (in
 *    any case), Content-Length together with Transfer-Encoding,
 *    Transfer-Encoding in HTTP/1.0, or a folded (obs-fold) header line is
 *    handed to h2o as a request without a body: its first header and every
 *    Content-Length, Transfer-Encoding, Upgrade and folded line become a
 *    marker header whose value says why. So h2o reads no body, sends no
 *    100-continue, never upgrades to h2c, and runs the handler at once.
 *    A well-framed request whose Content-Length body has no room to be
 *    spooled (body_spool.h) is handed over the same way, with
 *    body_spool_refusal()'s text as the marker's value.
 *  - request_framing_refusal() tells the handler, for any request (HTTP/2
 *    included: never), whether it is such a request. The handler must answer
 *    400 (503 when body_spool_is_refusal()) and set
 *    req->http1_is_persistent = 0: h2o then closes the connection after the
 *    answer and never parses the bytes that followed.
 *  - phr_decode_chunked() replaces the library's chunk decoder with a strict
 *    one: a chunk size is 1 to 16 hex digits, then optional spaces or tabs,
 *    then an extension after `;` or the end of the line; every line ends in
 *    CRLF (no bare LF); no control character in an extension. On anything
 *    else it fails, and h2o itself answers 400 (plain text "broken
 *    chunked-encoding") and closes the connection: no handler runs, nothing is
 *    logged by cairn. It keeps the library's state layout (the decoder lives
 *    in h2o's structures), so phr_decode_chunked_is_in_data() still works.
 *
 * Costs: one pass over the header names per HTTP/1 request, no allocation
 * (and one statvfs for a body large enough to be spooled);
 * the handler's check is two loads and a compare.
 *
 *     const char *why = request_framing_refusal(req);
 *     if (why != NULL) {
 *         req->http1_is_persistent = 0;
 *         response_send_error(req, REGISTRY_ERROR_FRAMING_INVALID, why);
 *     }
 */
#ifndef CAIRN_SRC_HTTP_REQUEST_FRAMING_H
#define CAIRN_SRC_HTTP_REQUEST_FRAMING_H

#include <h2o.h>
#include <stddef.h>
#include <sys/types.h>

/* NULL for a request with unambiguous framing; for a refused HTTP/1 request,
 * why (a static string). Call on the request's loop thread. */
const char *request_framing_refusal(const h2o_req_t *req);

/* picohttpparser's interface, as libh2o 2.2.5 was built with it (the library
 * ships no header for it). request_framing.c defines the two functions; the
 * library has phr_decode_chunked_is_in_data(). The decoder's offsets were
 * checked against the library's code: bytes_left_in_chunk at 0,
 * consume_trailer at 8, _hex_count at 9, _state at 10. h2o zeroes a decoder
 * and sets consume_trailer before the first call. */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};

int phr_parse_request(const char *buffer, size_t length, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len);
/* Decodes `buffer` (*size bytes) in place; on return *size is the number of
 * data bytes now at its start. Returns -2 when more input is needed, -1 on
 * malformed input, and at the end of the chunked body the number of bytes
 * after it, which are moved to follow the data. */
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buffer, size_t *size);
int phr_decode_chunked_is_in_data(struct phr_chunked_decoder *decoder);

#endif
