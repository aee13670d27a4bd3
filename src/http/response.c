/* src/http/response.h */
#include "src/http/response.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "layout/error.h"
#include "src/observe/access_log.h"

struct error_description {
    const char *code;
    int status;
    const char *message;
};

static struct error_description describe(int error)
{
    switch (error) {
    case REGISTRY_ERROR_BLOB_UNKNOWN:
        return (struct error_description){"BLOB_UNKNOWN", 404, "blob unknown to registry"};
    case REGISTRY_ERROR_BLOB_UPLOAD_INVALID:
        return (struct error_description){"BLOB_UPLOAD_INVALID", 400, "blob upload invalid"};
    case REGISTRY_ERROR_RANGE_INVALID:
        return (struct error_description){"BLOB_UPLOAD_INVALID", 416,
                                          "chunk does not start at the end of the upload"};
    case REGISTRY_ERROR_BLOB_UPLOAD_UNKNOWN:
        return (struct error_description){"BLOB_UPLOAD_UNKNOWN", 404,
                                          "blob upload unknown to registry"};
    case REGISTRY_ERROR_DIGEST_INVALID:
        return (struct error_description){"DIGEST_INVALID", 400,
                                          "provided digest did not match uploaded content"};
    case REGISTRY_ERROR_MANIFEST_BLOB_UNKNOWN:
        return (struct error_description){"MANIFEST_BLOB_UNKNOWN", 400,
                                          "manifest references a blob unknown to registry"};
    case REGISTRY_ERROR_MANIFEST_INVALID:
        return (struct error_description){"MANIFEST_INVALID", 400, "manifest invalid"};
    case REGISTRY_ERROR_MANIFEST_UNKNOWN:
        return (struct error_description){"MANIFEST_UNKNOWN", 404, "manifest unknown"};
    case REGISTRY_ERROR_NAME_INVALID:
        return (struct error_description){"NAME_INVALID", 400, "invalid repository name"};
    case REGISTRY_ERROR_NAME_UNKNOWN:
        return (struct error_description){"NAME_UNKNOWN", 404,
                                          "repository name not known to registry"};
    case REGISTRY_ERROR_SIZE_INVALID:
        return (struct error_description){"SIZE_INVALID", 400,
                                          "provided length did not match content length"};
    case REGISTRY_ERROR_TOO_LARGE:
        return (struct error_description){"SIZE_INVALID", 413, "manifest is larger than 4 MiB"};
    case REGISTRY_ERROR_TAG_INVALID:
        return (struct error_description){"TAG_INVALID", 400, "manifest tag did not match URI"};
    case REGISTRY_ERROR_UNAUTHORIZED:
        return (struct error_description){"UNAUTHORIZED", 401, "authentication required"};
    case REGISTRY_ERROR_DENIED:
        return (struct error_description){"DENIED", 403,
                                          "requested access to the resource is denied"};
    case REGISTRY_ERROR_UNSUPPORTED:
        return (struct error_description){"UNSUPPORTED", 405, "the operation is unsupported"};
    case REGISTRY_ERROR_RANGE_UNSATISFIABLE:
        return (struct error_description){"BLOB_UNKNOWN", 416, "requested range not satisfiable"};
    case REGISTRY_ERROR_PAGINATION_INVALID:
        return (struct error_description){"PAGINATION_NUMBER_INVALID", 400,
                                          "invalid number of results requested"};
    case REGISTRY_ERROR_BUSY:
        return (struct error_description){"BLOB_UPLOAD_INVALID", 409,
                                          "upload is being written by another request"};
    case REGISTRY_ERROR_NOT_FOUND:
        return (struct error_description){"NOT_FOUND", 404, "no such endpoint"};
    case REGISTRY_ERROR_FRAMING_INVALID:
        return (struct error_description){"UNSUPPORTED", 400, "ambiguous request framing"};
    case REGISTRY_ERROR_TOO_MANY_REQUESTS:
        return (struct error_description){"TOOMANYREQUESTS", 429, "too many requests"};
    case REGISTRY_ERROR_UNAVAILABLE:
        return (struct error_description){"UNAVAILABLE", 503, "blob storage is unavailable"};
    default:
        return (struct error_description){"INTERNAL", 500, "internal server error"};
    }
}

void response_add_header(h2o_req_t *req, const char *name, const char *orig_name, const char *value,
                         size_t value_length)
{
    h2o_iovec_t copy = h2o_strdup(&req->pool, value, value_length);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, orig_name,
                          copy.base, copy.len);
}

void response_note_mirror(h2o_req_t *req, enum metrics_mirror_outcome outcome)
{
    const char *label = metrics_mirror_outcome_label(outcome);
    h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
    req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT(RESPONSE_ENV_CACHE));
    req->env.entries[req->env.size++] = h2o_iovec_init(label, strlen(label));
}

void response_add_digest_etag(h2o_req_t *req, const char *digest, size_t digest_length)
{
    char *value = h2o_mem_alloc_pool(&req->pool, digest_length + 2);
    value[0] = '"';
    memcpy(value + 1, digest, digest_length);
    value[digest_length + 1] = '"';
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, "ETag", value, digest_length + 2);
}

void response_add_header_format(h2o_req_t *req, const char *name, const char *orig_name,
                                const char *format, ...)
{
    char value[1024];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(value, sizeof value, format, arguments);
    va_end(arguments);
    if (length < 0)
        return;
    if ((size_t)length >= sizeof value)
        length = sizeof value - 1;
    response_add_header(req, name, orig_name, value, (size_t)length);
}

int request_is_head(const h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

h2o_iovec_t request_header(const h2o_req_t *req, const char *name)
{
    ssize_t index = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (index < 0)
        return h2o_iovec_init(NULL, 0);
    return req->headers.entries[index].value;
}

static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 416:
        return "Requested Range Not Satisfiable";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

static h2o_generator_t no_more_data = {NULL, NULL};

void response_send(h2o_req_t *req, int status, const char *content_type, const char *body,
                   size_t length)
{
    req->res.status = status;
    req->res.reason = status_reason(status);
    req->res.content_length = length;
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    h2o_start_response(req, &no_more_data);
    if (length == 0 || request_is_head(req) || status == 204 || status == 304) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    h2o_iovec_t buffer = h2o_strdup(&req->pool, body, length);
    h2o_send(req, &buffer, 1, H2O_SEND_STATE_FINAL);
}

/* The length of the UTF-8 sequence at `text` (1-4), or 0 when it is not a
 * valid one (overlong forms, surrogates and values above U+10FFFF included)
 * or is an ASCII control character. */
static size_t printable_sequence(const unsigned char *text)
{
    unsigned char first = text[0];
    if (first < 0x80)
        return first >= 0x20 && first != 0x7f;
    size_t length = first >= 0xc2 && first <= 0xdf   ? 2
                    : first >= 0xe0 && first <= 0xef ? 3
                    : first >= 0xf0 && first <= 0xf4 ? 4
                                                     : 0;
    for (size_t i = 1; i < length; i++)
        if ((text[i] & 0xc0) != 0x80)
            return 0;
    if ((first == 0xe0 && text[1] < 0xa0) || (first == 0xed && text[1] > 0x9f) ||
        (first == 0xf0 && text[1] < 0x90) || (first == 0xf4 && text[1] > 0x8f))
        return 0;
    return length;
}

/* `message` as it can go into the JSON body: messages quote what a client
 * sent, which need not be UTF-8 (a percent-escape decodes to any byte), and
 * the JSON encoder refuses such strings. Every byte that is not part of a
 * printable UTF-8 sequence is written as \xNN; a message too long for
 * `buffer` is cut at a sequence boundary. */
static const char *printable_message(const char *message, char *buffer, size_t size)
{
    const unsigned char *in = (const unsigned char *)message;
    size_t used = 0;
    while (*in != '\0') {
        size_t length = printable_sequence(in);
        if (length == 0) {
            if (used + 5 > size)
                break;
            snprintf(buffer + used, size - used, "\\x%02x", *in);
            used += 4;
            in++;
            continue;
        }
        if (used + length + 1 > size)
            break;
        memcpy(buffer + used, in, length);
        used += length;
        in += length;
    }
    buffer[used] = '\0';
    return buffer;
}

void response_send_error(h2o_req_t *req, int error, const char *message)
{
    struct error_description description = describe(error);
    char printable[1024];
    if (message == NULL || message[0] == '\0')
        message = description.message;
    json_t *entry =
        json_pack("{s:s, s:s, s:o}", "code", description.code, "message",
                  printable_message(message, printable, sizeof printable), "detail", json_object());
    json_t *document = json_pack("{s:[o]}", "errors", entry);
    char *body = document != NULL ? json_dumps(document, JSON_COMPACT) : NULL;
    json_decref(document);
    if (body == NULL) {
        static const char fallback[] =
            "{\"errors\":[{\"code\":\"INTERNAL\",\"message\":\"out of memory\"}]}";
        response_send(req, 500, "application/json", fallback, sizeof fallback - 1);
        return;
    }
    response_send(req, description.status, "application/json", body, strlen(body));
    free(body);
}

void response_send_failure_message(h2o_req_t *req, int result, const char *message)
{
    int error = result < 0 ? -result : result;
    if (error < REGISTRY_ERROR_BLOB_UNKNOWN) {
        log_message(LOG_LEVEL_ERROR, "%.*s %.*s: %s", (int)req->method.len, req->method.base,
                    (int)req->path.len, req->path.base, message);
        /* EREMOTEIO: the remote blob store failed (drivers/s3.h). */
        error = error == EREMOTEIO ? REGISTRY_ERROR_UNAVAILABLE : REGISTRY_ERROR_INTERNAL;
        message = NULL; /* system details stay in the log */
    }
    response_send_error(req, error, message);
}

void response_send_failure(h2o_req_t *req, int result)
{
    response_send_failure_message(req, result, error_message());
}
