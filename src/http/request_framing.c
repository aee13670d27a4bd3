/* src/http/request_framing.h */
#include "src/http/request_framing.h"

#include "src/http/body_spool.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The name of the marker headers. h2o lowercases header names in place, so
 * it is writable; one per loop thread, so that no two threads write the same
 * bytes. ':' ends a name on the wire: no client can send this one. */
static _Thread_local char marker_name[] = "cairn:refused-framing";
#define MARKER_NAME_LENGTH (sizeof marker_name - 1)

const char *request_framing_refusal(const h2o_req_t *req)
{
    if (req->headers.size == 0 || req->headers.entries[0].name->base != marker_name)
        return NULL;
    return req->headers.entries[0].value.base;
}

/* ---- headers */

typedef int (*parse_request_function)(const char *, size_t, const char **, size_t *, const char **,
                                      size_t *, int *, struct phr_header *, size_t *, size_t);

static parse_request_function library_parse_request;
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;

static void look_up_library_parser(void)
{
    library_parse_request = (parse_request_function)dlsym(RTLD_NEXT, "phr_parse_request");
}

static int lowercase_equals(const char *name, size_t length, const char *lowercase,
                            size_t lowercase_length)
{
    if (length != lowercase_length)
        return 0;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lowercase[i])
            return 0;
    }
    return 1;
}

enum framing_header {
    FRAMING_OTHER,
    FRAMING_CONTENT_LENGTH,
    FRAMING_TRANSFER_ENCODING,
    FRAMING_UPGRADE,
    FRAMING_FOLDED
};

static enum framing_header framing_header_of(const struct phr_header *header)
{
    /* Only names of these lengths need a look; most headers stop here. */
    switch (header->name_len) {
    case 0:
        return FRAMING_FOLDED; /* picohttpparser's continuation of the line before */
    case 7:
        return lowercase_equals(header->name, 7, "upgrade", 7) ? FRAMING_UPGRADE : FRAMING_OTHER;
    case 14:
        return lowercase_equals(header->name, 14, "content-length", 14) ? FRAMING_CONTENT_LENGTH
                                                                        : FRAMING_OTHER;
    case 17:
        return lowercase_equals(header->name, 17, "transfer-encoding", 17)
                   ? FRAMING_TRANSFER_ENCODING
                   : FRAMING_OTHER;
    default:
        return FRAMING_OTHER;
    }
}

static int only_digits(const char *value, size_t length)
{
    if (length == 0)
        return 0;
    for (size_t i = 0; i < length; i++)
        if (value[i] < '0' || value[i] > '9')
            return 0;
    return 1;
}

/* Why these headers frame the request ambiguously, or NULL. */
static const char *framing_problem(const struct phr_header *headers, size_t count,
                                   int minor_version)
{
    unsigned content_lengths = 0, transfer_encodings = 0;
    for (size_t i = 0; i < count; i++) {
        switch (framing_header_of(&headers[i])) {
        case FRAMING_FOLDED:
            return "ambiguous request framing: a folded header line";
        case FRAMING_CONTENT_LENGTH:
            if (++content_lengths > 1)
                return "ambiguous request framing: more than one Content-Length";
            if (!only_digits(headers[i].value, headers[i].value_len))
                return "ambiguous request framing: a Content-Length that is not a number";
            break;
        case FRAMING_TRANSFER_ENCODING:
            if (++transfer_encodings > 1)
                return "ambiguous request framing: more than one Transfer-Encoding";
            if (!lowercase_equals(headers[i].value, headers[i].value_len, "chunked", 7))
                return "ambiguous request framing: a transfer coding other than chunked";
            break;
        default:
            break;
        }
    }
    if (content_lengths != 0 && transfer_encodings != 0)
        return "ambiguous request framing: Content-Length with Transfer-Encoding";
    if (transfer_encodings != 0 && minor_version == 0)
        return "ambiguous request framing: Transfer-Encoding in an HTTP/1.0 request";
    return NULL;
}

/* Why a Content-Length body cannot be received (body_spool.h), or NULL.
 * Runs after framing_problem(): at most one digits-only Content-Length. */
static const char *spool_problem(const struct phr_header *headers, size_t count,
                                 size_t header_bytes)
{
    for (size_t i = 0; i < count; i++) {
        if (framing_header_of(&headers[i]) != FRAMING_CONTENT_LENGTH)
            continue;
        uint64_t length = 0;
        for (size_t j = 0; j < headers[i].value_len; j++) {
            if (length > UINT64_MAX / 10 - 10)
                return NULL; /* absurd: h2o's entity limit answers it */
            length = length * 10 + (uint64_t)(headers[i].value[j] - '0');
        }
        return body_spool_refusal(length, header_bytes);
    }
    return NULL;
}

/* Turns the request into one without a body whose first header is a marker
 * carrying `why`. */
static void mark_refused(struct phr_header *headers, size_t count, const char *why)
{
    const struct phr_header marker = {marker_name, MARKER_NAME_LENGTH, why, strlen(why)};
    for (size_t i = 0; i < count; i++)
        if (framing_header_of(&headers[i]) != FRAMING_OTHER)
            headers[i] = marker;
    /* The first header moves to where a marker now stands (there is one:
     * some header made the framing ambiguous). */
    for (size_t i = 0; i < count; i++) {
        if (headers[i].name == marker_name) {
            headers[i] = headers[0];
            headers[0] = marker;
            break;
        }
    }
}

int phr_parse_request(const char *buffer, size_t length, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len)
{
    pthread_once(&lookup_once, look_up_library_parser);
    if (library_parse_request == NULL)
        return -1; /* cannot parse: h2o answers 400 and closes */
    int result = library_parse_request(buffer, length, method, method_len, path, path_len,
                                       minor_version, headers, num_headers, last_len);
    if (result <= 0)
        return result;
    const char *why = framing_problem(headers, *num_headers, *minor_version);
    if (why == NULL)
        why = spool_problem(headers, *num_headers, (size_t)result);
    if (why != NULL)
        mark_refused(headers, *num_headers, why);
    return result;
}

/* ---- chunks */

/* The decoder's states. 0 to 5 are picohttpparser's (2 is "in data": the
 * library's phr_decode_chunked_is_in_data reads it); the others are the
 * steps it skipped. */
enum chunk_state {
    CHUNK_SIZE = 0,         /* hex digits of a chunk size (_hex_count so far) */
    CHUNK_EXTENSION = 1,    /* after ';', up to CR */
    CHUNK_DATA = 2,         /* bytes_left_in_chunk bytes of data */
    CHUNK_DATA_CR = 3,      /* the CR after the data */
    TRAILER_LINE_START = 4, /* a trailer line, or CR of the empty line */
    TRAILER_LINE = 5,       /* within a trailer line, up to CR */
    CHUNK_SIZE_SPACE = 6,   /* spaces or tabs after the size */
    CHUNK_SIZE_LF = 7,      /* the LF ending a size line */
    CHUNK_DATA_LF = 8,      /* the LF after the data's CR */
    TRAILER_LINE_LF = 9,    /* the LF ending a trailer line */
    TRAILER_END_LF = 10,    /* the LF of the empty line: the end */
};

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Bytes that may stand in a chunk extension: visible ASCII, spaces, tabs and
 * obs-text; no CR, LF or other control character. */
static int extension_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buffer, size_t *size)
{
    size_t in = 0, out = 0, length = *size;
    ssize_t result = -2; /* incomplete */

    while (in < length) {
        unsigned char c = (unsigned char)buffer[in];
        switch ((enum chunk_state)decoder->_state) {
        case CHUNK_SIZE: {
            int value = hex_value((char)c);
            if (value >= 0) {
                if (decoder->_hex_count == (char)(sizeof(size_t) * 2))
                    goto failed;
                decoder->bytes_left_in_chunk = decoder->bytes_left_in_chunk * 16 + (size_t)value;
                decoder->_hex_count++;
                in++;
                break;
            }
            if (decoder->_hex_count == 0)
                goto failed;
            if (c == ';')
                decoder->_state = CHUNK_EXTENSION;
            else if (c == ' ' || c == '\t')
                decoder->_state = CHUNK_SIZE_SPACE;
            else if (c == '\r')
                decoder->_state = CHUNK_SIZE_LF;
            else
                goto failed;
            decoder->_hex_count = 0;
            in++;
            break;
        }
        case CHUNK_SIZE_SPACE:
            if (c == ';')
                decoder->_state = CHUNK_EXTENSION;
            else if (c == '\r')
                decoder->_state = CHUNK_SIZE_LF;
            else if (c != ' ' && c != '\t')
                goto failed;
            in++;
            break;
        case CHUNK_EXTENSION:
            if (c == '\r')
                decoder->_state = CHUNK_SIZE_LF;
            else if (!extension_byte(c))
                goto failed;
            in++;
            break;
        case CHUNK_SIZE_LF:
            if (c != '\n')
                goto failed;
            in++;
            if (decoder->bytes_left_in_chunk != 0) {
                decoder->_state = CHUNK_DATA;
            } else if (decoder->consume_trailer) {
                decoder->_state = TRAILER_LINE_START;
            } else {
                goto complete;
            }
            break;
        case CHUNK_DATA: {
            size_t available = length - in;
            size_t take =
                available < decoder->bytes_left_in_chunk ? available : decoder->bytes_left_in_chunk;
            if (out != in)
                memmove(buffer + out, buffer + in, take);
            in += take;
            out += take;
            decoder->bytes_left_in_chunk -= take;
            if (decoder->bytes_left_in_chunk != 0)
                goto done;
            decoder->_state = CHUNK_DATA_CR;
            break;
        }
        case CHUNK_DATA_CR:
            if (c != '\r')
                goto failed;
            decoder->_state = CHUNK_DATA_LF;
            in++;
            break;
        case CHUNK_DATA_LF:
            if (c != '\n')
                goto failed;
            decoder->_state = CHUNK_SIZE;
            decoder->_hex_count = 0;
            decoder->bytes_left_in_chunk = 0;
            in++;
            break;
        case TRAILER_LINE_START:
            if (c == '\r')
                decoder->_state = TRAILER_END_LF;
            else if (c == '\n')
                goto failed;
            else
                decoder->_state = TRAILER_LINE;
            in++;
            break;
        case TRAILER_LINE:
            if (c == '\r')
                decoder->_state = TRAILER_LINE_LF;
            else if (c == '\n')
                goto failed;
            in++;
            break;
        case TRAILER_LINE_LF:
            if (c != '\n')
                goto failed;
            decoder->_state = TRAILER_LINE_START;
            in++;
            break;
        case TRAILER_END_LF:
            if (c != '\n')
                goto failed;
            in++;
            goto complete;
        default:
            goto failed; /* not a state of this decoder */
        }
    }
    goto done; /* all of it read: more is needed */

complete:
    result = (ssize_t)(length - in);
    goto done;
failed:
    result = -1;
done:
    if (out != in)
        memmove(buffer + out, buffer + in, length - in);
    *size = out;
    return result;
}
