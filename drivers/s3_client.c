/* drivers/s3_client.h */
#include "drivers/s3_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "drivers/s3_sign.h"
#include "layout/digest.h"
#include "layout/error.h"

#define EMPTY_PAYLOAD_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define MEBIBYTE (1024 * 1024LL)
#define MAXIMUM_PART_COUNT 10000
#define MAXIMUM_OBJECT_SIZE (5 * 1024 * 1024 * MEBIBYTE)
#define KEY_MAX 1024
/* A key percent-encoded: at most three characters per byte. */
#define ENCODED_KEY_MAX (3 * KEY_MAX + 1)
/* ListObjectsV2 continuation tokens (AWS's are about 100 characters). */
#define LIST_TOKEN_MAX 2048
#define QUERY_MAX (ENCODED_KEY_MAX + 3 * LIST_TOKEN_MAX + 512)
#define URL_MAX (ENCODED_KEY_MAX + QUERY_MAX + 1024)
#define UPLOAD_ID_MAX 1024
#define ETAG_MAX 256
/* Idle handles (each with its live connections) kept for the next call. */
#define POOL_CAPACITY 64
/* Error bodies are kept up to this size (the rest is read and dropped). */
#define ERROR_BODY_MAX (64 * 1024)
/* A ListObjectsV2 page of 1000 keys is about 300 KiB. */
#define LIST_BODY_MAX (32 * MEBIBYTE)

/* What one call works with: a copy of the settings taken when it starts, so
 * that s3_client_update() never changes anything under a call in flight. */
struct configuration {
    struct s3_settings settings;
    char scheme[8]; /* "http" | "https" */
    char host[512]; /* host[:port] of the endpoint */
};

struct s3_client {
    pthread_mutex_t configuration_lock;
    struct configuration configuration;
    pthread_mutex_t pool_lock;
    CURL *pool[POOL_CAPACITY];
    size_t pool_count;
};

/* ---- small helpers ------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_initialization;

static void curl_initialize(void)
{
    curl_initialization = curl_global_init(CURL_GLOBAL_ALL);
}

static int curl_ready(void)
{
    pthread_once(&curl_once, curl_initialize);
    if (curl_initialization != CURLE_OK)
        return error_set(-EIO, "cannot initialise libcurl: %s",
                         curl_easy_strerror(curl_initialization));
    return 0;
}

static void wipe(void *data, size_t length)
{
    explicit_bzero(data, length);
}

static void sleep_milliseconds(long milliseconds)
{
    struct timespec delay = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) < 0 && errno == EINTR)
        ;
}

struct buffer {
    char *data;
    size_t length, capacity;
};

static int buffer_append(struct buffer *buffer, const void *data, size_t length)
{
    if (buffer->length + length + 1 > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 4096;
        while (capacity < buffer->length + length + 1)
            capacity *= 2;
        char *grown = realloc(buffer->data, capacity);
        if (grown == NULL)
            return -ENOMEM;
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, data, length);
    buffer->length += length;
    buffer->data[buffer->length] = '\0';
    return 0;
}

static void buffer_release(struct buffer *buffer)
{
    free(buffer->data);
    buffer->data = NULL;
    buffer->length = buffer->capacity = 0;
}

/* ---- XML: the few elements S3 answers with ------------------------------- */

/* Decodes the XML text `text` (`length` bytes): the five named entities and
 * numeric character references. -EIO for anything else after '&'. */
static int xml_unescape(const char *text, size_t length, char *out, size_t out_size)
{
    size_t written = 0;
    for (size_t i = 0; i < length;) {
        char decoded[4];
        size_t decoded_length = 1;
        if (text[i] != '&') {
            decoded[0] = text[i++];
        } else {
            const char *end = memchr(text + i, ';', length - i);
            if (end == NULL)
                return -EIO;
            const char *entity = text + i + 1;
            size_t entity_length = (size_t)(end - entity);
            static const struct {
                const char *name;
                char character;
            } named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
            int found = 0;
            for (size_t n = 0; n < sizeof named / sizeof named[0]; n++)
                if (strlen(named[n].name) == entity_length &&
                    memcmp(named[n].name, entity, entity_length) == 0) {
                    decoded[0] = named[n].character;
                    found = 1;
                }
            if (!found) {
                if (entity_length < 2 || entity[0] != '#')
                    return -EIO;
                unsigned long code = 0;
                int hexadecimal = entity[1] == 'x';
                size_t digits = hexadecimal ? 2 : 1;
                if (digits >= entity_length || entity_length - digits > 8)
                    return -EIO;
                for (size_t d = digits; d < entity_length; d++) {
                    int c = (unsigned char)entity[d];
                    if (hexadecimal ? !isxdigit(c) : !isdigit(c))
                        return -EIO;
                    code = code * (hexadecimal ? 16 : 10) +
                           (unsigned long)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
                }
                if (code == 0 || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
                    return -EIO;
                if (code < 0x80) {
                    decoded[0] = (char)code;
                } else if (code < 0x800) {
                    decoded[0] = (char)(0xC0 | (code >> 6));
                    decoded[1] = (char)(0x80 | (code & 0x3F));
                    decoded_length = 2;
                } else if (code < 0x10000) {
                    decoded[0] = (char)(0xE0 | (code >> 12));
                    decoded[1] = (char)(0x80 | ((code >> 6) & 0x3F));
                    decoded[2] = (char)(0x80 | (code & 0x3F));
                    decoded_length = 3;
                } else {
                    decoded[0] = (char)(0xF0 | (code >> 18));
                    decoded[1] = (char)(0x80 | ((code >> 12) & 0x3F));
                    decoded[2] = (char)(0x80 | ((code >> 6) & 0x3F));
                    decoded[3] = (char)(0x80 | (code & 0x3F));
                    decoded_length = 4;
                }
            }
            i = (size_t)(end - text) + 1;
        }
        if (written + decoded_length >= out_size)
            return -ENAMETOOLONG;
        memcpy(out + written, decoded, decoded_length);
        written += decoded_length;
    }
    out[written] = '\0';
    return 0;
}

/* Finds the first <name>...</name> (no attributes) between `xml` and `end`:
 * sets the raw text and returns 1, or returns 0. */
static int xml_find(const char *xml, const char *end, const char *name, const char **text,
                    size_t *length)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", name);
    snprintf(close, sizeof close, "</%s>", name);
    size_t open_length = strlen(open), close_length = strlen(close);
    for (const char *at = xml; at + open_length <= end; at++) {
        at = memchr(at, '<', (size_t)(end - at));
        if (at == NULL || at + open_length > end)
            return 0;
        if (memcmp(at, open, open_length) != 0)
            continue;
        const char *start = at + open_length;
        for (const char *stop = start; stop + close_length <= end; stop++) {
            stop = memchr(stop, '<', (size_t)(end - stop));
            if (stop == NULL || stop + close_length > end)
                return 0;
            if (memcmp(stop, close, close_length) == 0) {
                *text = start;
                *length = (size_t)(stop - start);
                return 1;
            }
        }
        return 0;
    }
    return 0;
}

/* The decoded text of the first <name> element, or "" when there is none or
 * it does not decode into `out_size`. */
static void xml_text(const char *xml, const char *end, const char *name, char *out, size_t out_size)
{
    const char *text;
    size_t length;
    out[0] = '\0';
    if (xml == NULL || !xml_find(xml, end, name, &text, &length) ||
        xml_unescape(text, length, out, out_size) < 0)
        out[0] = '\0';
}

/* XML-escapes `text` into `buffer`. */
static int xml_escape_append(struct buffer *buffer, const char *text)
{
    for (; *text; text++) {
        const char *entity = NULL;
        switch (*text) {
        case '&':
            entity = "&amp;";
            break;
        case '<':
            entity = "&lt;";
            break;
        case '>':
            entity = "&gt;";
            break;
        case '"':
            entity = "&quot;";
            break;
        case '\'':
            entity = "&apos;";
            break;
        }
        int result =
            entity ? buffer_append(buffer, entity, strlen(entity)) : buffer_append(buffer, text, 1);
        if (result < 0)
            return result;
    }
    return 0;
}

/* "2009-10-12T17:50:30.000Z" → seconds since the epoch; -1 if malformed. */
static long long iso8601_seconds(const char *text)
{
    struct tm time_parts = {0};
    int consumed = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &time_parts.tm_year, &time_parts.tm_mon,
               &time_parts.tm_mday, &time_parts.tm_hour, &time_parts.tm_min, &time_parts.tm_sec,
               &consumed) != 6 ||
        consumed < 19)
        return -1;
    time_parts.tm_year -= 1900;
    time_parts.tm_mon -= 1;
    return (long long)timegm(&time_parts);
}

/* ---- settings ------------------------------------------------------------ */

void s3_settings_defaults(struct s3_settings *settings)
{
    memset(settings, 0, sizeof *settings);
    snprintf(settings->region, sizeof settings->region, "%s", S3_DEFAULT_REGION);
    settings->path_style = 1;
    settings->connect_timeout_ms = S3_DEFAULT_CONNECT_TIMEOUT_MS;
    settings->request_timeout_ms = S3_DEFAULT_REQUEST_TIMEOUT_MS;
    settings->attempts = S3_DEFAULT_ATTEMPTS;
    settings->part_size = S3_DEFAULT_PART_SIZE;
    settings->upload_concurrency = S3_DEFAULT_UPLOAD_CONCURRENCY;
    settings->presign_expiry_seconds = S3_DEFAULT_PRESIGN_EXPIRY_SECONDS;
}

static int terminated(const char *field, size_t size)
{
    return memchr(field, '\0', size) != NULL;
}

/* Checks `settings` and fills `out` (endpoint split into scheme and host). */
static int configuration_build(const struct s3_settings *settings, struct configuration *out)
{
    memset(out, 0, sizeof *out);
    if (!terminated(settings->endpoint, sizeof settings->endpoint) ||
        !terminated(settings->region, sizeof settings->region) ||
        !terminated(settings->bucket, sizeof settings->bucket) ||
        !terminated(settings->access_key, sizeof settings->access_key) ||
        !terminated(settings->secret_key, sizeof settings->secret_key) ||
        !terminated(settings->root_directory, sizeof settings->root_directory))
        return error_set(-EINVAL, "S3 settings: a text field is not terminated");
    const char *endpoint = settings->endpoint;
    const char *rest;
    if (strncmp(endpoint, "http://", 7) == 0) {
        snprintf(out->scheme, sizeof out->scheme, "http");
        rest = endpoint + 7;
    } else if (strncmp(endpoint, "https://", 8) == 0) {
        snprintf(out->scheme, sizeof out->scheme, "https");
        rest = endpoint + 8;
    } else {
        return error_set(-EINVAL, "S3 endpoint \"%s\" must start with http:// or https://",
                         endpoint);
    }
    size_t host_length = strcspn(rest, "/?#");
    const char *after = rest + host_length;
    while (*after == '/')
        after++;
    if (host_length == 0 || *after != '\0')
        return error_set(-EINVAL, "S3 endpoint \"%s\" must be scheme://host[:port], no path",
                         endpoint);
    for (size_t i = 0; i < host_length; i++)
        if (!isgraph((unsigned char)rest[i]) || rest[i] == '@' || rest[i] == '\\')
            return error_set(-EINVAL, "S3 endpoint \"%s\": bad character in the host", endpoint);
    memcpy(out->host, rest, host_length);
    out->host[host_length] = '\0';

    if (settings->bucket[0] == '\0')
        return error_set(-EINVAL, "S3 bucket is not set");
    for (const char *c = settings->bucket; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_')
            return error_set(-EINVAL, "S3 bucket \"%s\": only letters, digits, '-', '.', '_'",
                             settings->bucket);
    if (settings->region[0] == '\0')
        return error_set(-EINVAL, "S3 region is not set");
    for (const char *c = settings->region; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
            return error_set(-EINVAL, "S3 region \"%s\": only letters, digits, '-', '_'",
                             settings->region);
    if (settings->access_key[0] == '\0' || settings->secret_key[0] == '\0')
        return error_set(-EINVAL, "S3 credentials are not set (access key and secret key)");
    for (const char *c = settings->access_key; *c; c++)
        if (!isgraph((unsigned char)*c) || *c == '/' || *c == ':')
            return error_set(-EINVAL, "S3 access key: bad character");
    for (const char *c = settings->secret_key; *c; c++)
        if (!isgraph((unsigned char)*c))
            return error_set(-EINVAL, "S3 secret key: bad character (not shown)");
    if (settings->connect_timeout_ms <= 0 || settings->request_timeout_ms <= 0)
        return error_set(-EINVAL, "S3 timeouts must be positive");
    if (settings->attempts < 1 || settings->attempts > 20)
        return error_set(-EINVAL, "S3 attempts must be 1 to 20, not %d", settings->attempts);
    if (settings->part_size < S3_MINIMUM_PART_SIZE || settings->part_size > S3_MAXIMUM_PART_SIZE)
        return error_set(-EINVAL, "S3 part size must be 5 MiB to 5 GiB, not %" PRId64,
                         settings->part_size);
    if (settings->upload_concurrency < 1 ||
        settings->upload_concurrency > S3_UPLOAD_CONCURRENCY_MAX)
        return error_set(-EINVAL, "S3 upload concurrency must be 1 to %d, not %d",
                         S3_UPLOAD_CONCURRENCY_MAX, settings->upload_concurrency);
    if (settings->presign_expiry_seconds < 1 ||
        settings->presign_expiry_seconds > S3_PRESIGN_EXPIRES_MAX)
        return error_set(-EINVAL, "S3 presigned URL lifetime must be 1 to %ld seconds, not %ld",
                         S3_PRESIGN_EXPIRES_MAX, settings->presign_expiry_seconds);
    if (settings->list_max_keys < 0 || settings->list_max_keys > 1000)
        return error_set(-EINVAL, "S3 list page size must be 0 to 1000, not %d",
                         settings->list_max_keys);
    out->settings = *settings;
    return 0;
}

static void configuration_snapshot(struct s3_client *client, struct configuration *out)
{
    pthread_mutex_lock(&client->configuration_lock);
    *out = client->configuration;
    pthread_mutex_unlock(&client->configuration_lock);
}

static void configuration_release(struct configuration *configuration)
{
    wipe(configuration->settings.secret_key, sizeof configuration->settings.secret_key);
}

/* ---- the client ---------------------------------------------------------- */

int s3_client_create(const struct s3_settings *settings, struct s3_client **client_out)
{
    *client_out = NULL;
    int result = curl_ready();
    if (result < 0)
        return result;
    struct s3_client *client = calloc(1, sizeof *client);
    if (client == NULL)
        return error_set(-ENOMEM, "out of memory");
    if ((result = configuration_build(settings, &client->configuration)) < 0) {
        free(client);
        return result;
    }
    pthread_mutex_init(&client->configuration_lock, NULL);
    pthread_mutex_init(&client->pool_lock, NULL);
    *client_out = client;
    return 0;
}

void s3_client_destroy(struct s3_client *client)
{
    if (client == NULL)
        return;
    for (size_t i = 0; i < client->pool_count; i++)
        curl_easy_cleanup(client->pool[i]);
    pthread_mutex_destroy(&client->pool_lock);
    pthread_mutex_destroy(&client->configuration_lock);
    configuration_release(&client->configuration);
    free(client);
}

int s3_client_update(struct s3_client *client, const struct s3_settings *settings)
{
    struct configuration configuration;
    int result = configuration_build(settings, &configuration);
    if (result == 0) {
        pthread_mutex_lock(&client->configuration_lock);
        configuration_release(&client->configuration);
        client->configuration = configuration;
        pthread_mutex_unlock(&client->configuration_lock);
    }
    configuration_release(&configuration);
    return result;
}

int s3_client_set_credentials(struct s3_client *client, const char *access_key,
                              const char *secret_key)
{
    struct s3_settings settings;
    pthread_mutex_lock(&client->configuration_lock);
    settings = client->configuration.settings;
    pthread_mutex_unlock(&client->configuration_lock);
    int result = 0;
    if (snprintf(settings.access_key, sizeof settings.access_key, "%s", access_key) >=
            (int)sizeof settings.access_key ||
        snprintf(settings.secret_key, sizeof settings.secret_key, "%s", secret_key) >=
            (int)sizeof settings.secret_key)
        result = error_set(-EINVAL, "S3 credentials too long");
    if (result == 0)
        result = s3_client_update(client, &settings);
    wipe(settings.secret_key, sizeof settings.secret_key);
    return result;
}

static CURL *handle_acquire(struct s3_client *client)
{
    CURL *handle = NULL;
    pthread_mutex_lock(&client->pool_lock);
    if (client->pool_count > 0)
        handle = client->pool[--client->pool_count];
    pthread_mutex_unlock(&client->pool_lock);
    if (handle == NULL)
        handle = curl_easy_init();
    else
        curl_easy_reset(handle); /* keeps its live connections */
    return handle;
}

static void handle_release(struct s3_client *client, CURL *handle)
{
    pthread_mutex_lock(&client->pool_lock);
    if (client->pool_count < POOL_CAPACITY) {
        client->pool[client->pool_count++] = handle;
        handle = NULL;
    }
    pthread_mutex_unlock(&client->pool_lock);
    if (handle != NULL)
        curl_easy_cleanup(handle);
}

/* ---- one HTTP exchange, with retries ------------------------------------- */

/* A request body read from memory or from a range of a file (pread: many
 * parts of one file go out at once). Rewindable for retries. */
struct upload_source {
    const char *memory;
    int fd;
    int64_t base; /* file offset of the first byte */
    int64_t length;
    int64_t position;
    int error; /* errno of a failed read */
};

struct exchange {
    /* The request. */
    const char *operation; /* for messages: "HEAD", "GET", "PUT", "copy", ... */
    const char *method;    /* "GET", "HEAD", "PUT", "POST", "DELETE" */
    const char *key;       /* NULL: the bucket itself */
    const char *query;     /* canonical (sorted, encoded), without '?'; NULL for none */
    const char *payload_hash;
    const char *extra_headers[4];
    struct upload_source *source; /* PUT body */
    const char *post_body;        /* POST body */
    size_t post_length;
    int transfer;         /* low-speed limit instead of a total timeout */
    int retry;            /* idempotent: retried */
    int error_in_success; /* a 200 may carry <Error> (copy, complete) */
    size_t body_limit;    /* bytes of a body kept (0: ERROR_BODY_MAX) */
    /* Ranged reads: bytes from range_offset, `want` of them (-1: to the end),
     * handed to `consume`; a retry resumes after the `delivered` ones. */
    int ranged;
    int64_t range_offset, want, delivered;
    int (*consume)(void *context, const void *data, size_t length);
    void *consume_context;
    /* The response. */
    CURL *handle;
    long status;
    int64_t skip;        /* bytes still to drop (a 200 where a range was asked) */
    int consumer_result; /* the consumer's non-zero return */
    int reached_end;     /* stopped on purpose: everything wanted was delivered */
    int body_too_large;
    struct buffer body;
    char etag[ETAG_MAX];
    int64_t content_length;  /* HEAD: Content-Length, -1 if none */
    long long last_modified; /* HEAD: Last-Modified, -1 if none */
    int attempts_made;
};

/* A Range header goes out when a part was asked for, or to resume. */
static int range_wanted(const struct exchange *exchange)
{
    return exchange->ranged || exchange->delivered > 0;
}

static size_t on_read(char *out, size_t size, size_t count, void *pointer)
{
    struct upload_source *source = pointer;
    size_t wanted = size * count;
    if ((int64_t)wanted > source->length - source->position)
        wanted = (size_t)(source->length - source->position);
    if (wanted == 0)
        return 0;
    if (source->memory != NULL) {
        memcpy(out, source->memory + source->position, wanted);
    } else {
        ssize_t got;
        do
            got = pread(source->fd, out, wanted, source->base + source->position);
        while (got < 0 && errno == EINTR);
        if (got <= 0) {
            source->error = got < 0 ? errno : EIO; /* 0: the file became shorter */
            return CURL_READFUNC_ABORT;
        }
        wanted = (size_t)got;
    }
    source->position += (int64_t)wanted;
    return wanted;
}

static int on_seek(void *pointer, curl_off_t offset, int origin)
{
    struct upload_source *source = pointer;
    if (origin != SEEK_SET || offset < 0 || offset > source->length)
        return CURL_SEEKFUNC_CANTSEEK;
    source->position = offset;
    return CURL_SEEKFUNC_OK;
}

static size_t on_header(char *data, size_t size, size_t count, void *pointer)
{
    struct exchange *exchange = pointer;
    size_t length = size * count;
    if (length > 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after "100 Continue" too): its status. */
        const char *space = memchr(data, ' ', length);
        exchange->status = space ? strtol(space + 1, NULL, 10) : 0;
        exchange->etag[0] = '\0';
        /* A server that ignores Range sends the whole object: drop what
         * precedes the bytes still wanted. */
        exchange->skip = range_wanted(exchange) && exchange->status == 200
                             ? exchange->range_offset + exchange->delivered
                             : 0;
    } else if (length > 14 && strncasecmp(data, "Content-Range:", 14) == 0 &&
               exchange->consume != NULL && exchange->status == 206) {
        /* "bytes 0-0/0": some servers (s3rver) answer a range of an empty
         * object with a 206 that promises a byte it never sends. An object
         * of total size 0 has no bytes to wait for. */
        const char *slash = memchr(data, '/', length);
        if (slash != NULL && slash + 1 < data + length && slash[1] == '0' &&
            (slash + 2 == data + length || !isdigit((unsigned char)slash[2]))) {
            exchange->reached_end = 1;
            return 0;
        }
    } else if (length > 5 && strncasecmp(data, "ETag:", 5) == 0) {
        size_t start = 5, end = length;
        while (start < end && (data[start] == ' ' || data[start] == '\t'))
            start++;
        while (end > start && isspace((unsigned char)data[end - 1]))
            end--;
        if (end - start < sizeof exchange->etag) {
            memcpy(exchange->etag, data + start, end - start);
            exchange->etag[end - start] = '\0';
        }
    }
    return length;
}

/* Hands a piece of a ranged body to the consumer: drops what precedes the
 * range (a server that ignored it), stops once `want` bytes went out. */
static size_t deliver(struct exchange *exchange, const char *data, size_t length)
{
    size_t received = length, dropped = 0;
    if (exchange->skip > 0) {
        dropped = (int64_t)length < exchange->skip ? length : (size_t)exchange->skip;
        data += dropped;
        length -= dropped;
        exchange->skip -= (int64_t)dropped;
    }
    size_t available = length;
    int enough = 0;
    if (exchange->want >= 0) {
        int64_t left = exchange->want - exchange->delivered;
        if ((int64_t)length >= left) {
            length = (size_t)left;
            enough = 1;
        }
    }
    if (length > 0) {
        int result = exchange->consume(exchange->consume_context, data, length);
        if (result != 0) {
            exchange->consumer_result = result;
            return 0; /* CURLE_WRITE_ERROR */
        }
        exchange->delivered += (int64_t)length;
    }
    if (enough && available > length) {
        /* More came than asked for: stop here (the connection is dropped). */
        exchange->reached_end = 1;
        return 0;
    }
    return received;
}

static size_t on_body(char *data, size_t size, size_t count, void *pointer)
{
    struct exchange *exchange = pointer;
    size_t length = size * count;
    if (exchange->status >= 200 && exchange->status < 300 && exchange->consume != NULL)
        return deliver(exchange, data, length);
    size_t limit = exchange->body_limit ? exchange->body_limit : ERROR_BODY_MAX;
    int success = exchange->status >= 200 && exchange->status < 300;
    if (exchange->body.length + length > limit) {
        if (success) {
            exchange->body_too_large = 1;
            return 0;
        }
        return length; /* the start of an error body is enough */
    }
    if (buffer_append(&exchange->body, data, length) < 0) {
        exchange->body_too_large = 1;
        return 0;
    }
    return length;
}

/* The object's URL for this configuration: path-style or virtual-hosted. */
static int url_build(const struct configuration *configuration, const char *key, const char *query,
                     char *url, size_t url_size)
{
    char encoded[ENCODED_KEY_MAX] = "";
    if (key != NULL) {
        int result = s3_uri_encode(key, strlen(key), 0, encoded, sizeof encoded);
        if (result < 0)
            return result;
    }
    const struct s3_settings *settings = &configuration->settings;
    int length;
    if (settings->path_style)
        length = snprintf(url, url_size, "%s://%s/%s%s%s%s%s", configuration->scheme,
                          configuration->host, settings->bucket, key ? "/" : "", encoded,
                          query ? "?" : "", query ? query : "");
    else
        length =
            snprintf(url, url_size, "%s://%s.%s/%s%s%s", configuration->scheme, settings->bucket,
                     configuration->host, encoded, query ? "?" : "", query ? query : "");
    if (length < 0 || (size_t)length >= url_size)
        return error_set(-ENAMETOOLONG, "S3 URL too long");
    return 0;
}

static const char *key_for_message(const struct exchange *exchange)
{
    return exchange->key ? exchange->key : "(bucket)";
}

/* Maps a curl failure; sets *retry for the network failures worth another
 * try. */
static int fail_transport(struct exchange *exchange, CURLcode code, const char *detail, int *retry)
{
    int error = -EIO;
    *retry = 0;
    switch (code) {
    case CURLE_COULDNT_CONNECT:
        error = -ECONNREFUSED;
        *retry = 1;
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        error = -EHOSTUNREACH;
        *retry = 1;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        error = -ETIMEDOUT;
        *retry = 1;
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        *retry = 1;
        break;
    default:
        break;
    }
    return error_set(error, "S3 %s %s: %s", exchange->operation, key_for_message(exchange),
                     detail[0] ? detail : curl_easy_strerror(code));
}

/* Maps an HTTP answer that is not a success; sets *retry for 5xx, 429,
 * SlowDown and RequestTimeout. */
static int fail_status(struct exchange *exchange, int *retry)
{
    char code[128], message[384];
    const char *body = exchange->body.data, *end = body ? body + exchange->body.length : NULL;
    xml_text(body, end, "Code", code, sizeof code);
    xml_text(body, end, "Message", message, sizeof message);
    long status = exchange->status;
    const char *operation = exchange->operation, *key = key_for_message(exchange);
    *retry = status >= 500 || status == 429 || strcmp(code, "SlowDown") == 0 ||
             strcmp(code, "RequestTimeout") == 0 || strcmp(code, "InternalError") == 0;
    if (status == 404 || strcmp(code, "NoSuchKey") == 0)
        return error_set(-ENOENT, "S3 %s %s: not found (HTTP %ld%s%s)", operation, key, status,
                         code[0] ? " " : "", code);
    if (status == 403)
        return error_set(-EACCES, "S3 refused: %s: %s (%s %s, HTTP 403)",
                         code[0] ? code : "AccessDenied",
                         message[0] ? message : "no details in the answer", operation, key);
    if (status == 301 || status == 307 || strcmp(code, "PermanentRedirect") == 0)
        return error_set(-EIO,
                         "S3 %s %s: HTTP %ld %s: the bucket is elsewhere (check the region "
                         "and endpoint)%s%s",
                         operation, key, status, code, message[0] ? ": " : "", message);
    return error_set(-EIO, "S3 %s %s: HTTP %ld%s%s%s%s", operation, key, status, code[0] ? " " : "",
                     code, message[0] ? ": " : "", message);
}

static int perform_once(struct s3_client *client, const struct configuration *configuration,
                        struct exchange *exchange, int *retry)
{
    *retry = 0;
    const struct s3_settings *settings = &configuration->settings;
    char url[URL_MAX];
    int result = url_build(configuration, exchange->key, exchange->query, url, sizeof url);
    if (result < 0)
        return result;

    struct curl_slist *headers = NULL;
    char line[2 * ENCODED_KEY_MAX + 64];
    snprintf(line, sizeof line, "x-amz-content-sha256: %s",
             exchange->payload_hash ? exchange->payload_hash : EMPTY_PAYLOAD_HASH);
    struct curl_slist *grown = curl_slist_append(headers, line);
    for (size_t i = 0; grown != NULL && i < sizeof exchange->extra_headers / sizeof(char *); i++)
        if (exchange->extra_headers[i] != NULL)
            grown = curl_slist_append(headers = grown, exchange->extra_headers[i]);
    if (grown != NULL && range_wanted(exchange)) {
        int64_t start = exchange->range_offset + exchange->delivered;
        if (exchange->want >= 0)
            snprintf(line, sizeof line, "Range: bytes=%" PRId64 "-%" PRId64, start,
                     exchange->range_offset + exchange->want - 1);
        else
            snprintf(line, sizeof line, "Range: bytes=%" PRId64 "-", start);
        grown = curl_slist_append(headers = grown, line);
    }
    if (grown == NULL) {
        curl_slist_free_all(headers);
        return error_set(-ENOMEM, "out of memory");
    }
    headers = grown;

    CURL *handle = handle_acquire(client);
    if (handle == NULL) {
        curl_slist_free_all(headers);
        return error_set(-ENOMEM, "cannot make a curl handle");
    }
    char signing[128], detail[CURL_ERROR_SIZE] = "";
    snprintf(signing, sizeof signing, "aws:amz:%s:s3", settings->region);
    exchange->handle = handle;
    exchange->status = 0;
    exchange->skip = 0;
    exchange->consumer_result = 0;
    exchange->reached_end = 0;
    exchange->body_too_large = 0;
    exchange->etag[0] = '\0';
    exchange->body.length = 0;
    if (exchange->body.data)
        exchange->body.data[0] = '\0';
    if (exchange->source != NULL) {
        exchange->source->position = 0;
        exchange->source->error = 0;
    }

    curl_easy_setopt(handle, CURLOPT_URL, url);
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(handle, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(handle, CURLOPT_AWS_SIGV4, signing);
    curl_easy_setopt(handle, CURLOPT_USERNAME, settings->access_key);
    curl_easy_setopt(handle, CURLOPT_PASSWORD, settings->secret_key);
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, settings->connect_timeout_ms);
    if (exchange->transfer) {
        curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        long seconds = settings->request_timeout_ms / 1000;
        curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, seconds > 0 ? seconds : 1L);
    } else {
        curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, settings->request_timeout_ms);
    }
    if (settings->skip_verify) {
        curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, exchange);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, exchange);
    if (strcmp(exchange->method, "HEAD") == 0) {
        curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(handle, CURLOPT_FILETIME, 1L);
    } else if (strcmp(exchange->method, "PUT") == 0) {
        struct upload_source *source = exchange->source;
        curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, (curl_off_t)source->length);
        curl_easy_setopt(handle, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(handle, CURLOPT_READDATA, source);
        curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(handle, CURLOPT_SEEKDATA, source);
    } else if (strcmp(exchange->method, "POST") == 0) {
        curl_easy_setopt(handle, CURLOPT_POST, 1L);
        curl_easy_setopt(handle, CURLOPT_POSTFIELDS,
                         exchange->post_body ? exchange->post_body : "");
        curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)exchange->post_length);
    } else if (strcmp(exchange->method, "DELETE") == 0) {
        curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, "DELETE");
    }

    CURLcode code = curl_easy_perform(handle);
    /* The handle keeps no pointer into this frame past here. */
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(handle, CURLOPT_PASSWORD, "");
    if (code == CURLE_OK && strcmp(exchange->method, "HEAD") == 0) {
        curl_off_t size = -1, modified = -1;
        curl_easy_getinfo(handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &size);
        curl_easy_getinfo(handle, CURLINFO_FILETIME_T, &modified);
        exchange->content_length = size;
        exchange->last_modified = modified;
    }
    long status = 0;
    if (code == CURLE_OK && curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
        exchange->status = status;
    exchange->handle = NULL;
    handle_release(client, handle);
    curl_slist_free_all(headers);

    if (code != CURLE_OK) {
        if (code == CURLE_WRITE_ERROR && exchange->consumer_result != 0)
            return exchange->consumer_result;
        if (code == CURLE_WRITE_ERROR && exchange->reached_end)
            return 0;
        if (code == CURLE_WRITE_ERROR && exchange->body_too_large)
            return error_set(-EIO, "S3 %s %s: answer too large", exchange->operation,
                             key_for_message(exchange));
        if (exchange->source != NULL && exchange->source->error != 0)
            return error_set(-exchange->source->error, "S3 %s %s: cannot read the local file: %s",
                             exchange->operation, key_for_message(exchange),
                             strerror(exchange->source->error));
        return fail_transport(exchange, code, detail, retry);
    }
    if (exchange->status < 200 || exchange->status >= 300)
        return fail_status(exchange, retry);
    if (exchange->error_in_success && exchange->body.data != NULL &&
        strstr(exchange->body.data, "<Error>") != NULL) {
        /* CopyObject and CompleteMultipartUpload can fail after their 200. */
        exchange->status = 500;
        return fail_status(exchange, retry);
    }
    return 0;
}

/* Runs the exchange, again after a retryable failure (idempotent calls), with
 * backoff 100 ms, 200 ms, 400 ms... */
static int perform(struct s3_client *client, const struct configuration *configuration,
                   struct exchange *exchange)
{
    int attempts = exchange->retry ? configuration->settings.attempts : 1;
    long delay = 100;
    for (exchange->attempts_made = 1;; exchange->attempts_made++) {
        int retry;
        int result = perform_once(client, configuration, exchange, &retry);
        if (result >= 0 || !retry || exchange->attempts_made >= attempts)
            return result;
        if (exchange->consume != NULL && exchange->want >= 0 &&
            exchange->delivered >= exchange->want)
            return 0; /* everything arrived before the failure */
        sleep_milliseconds(delay);
        if (delay < 3200)
            delay *= 2;
    }
}

static int key_check(const char *key)
{
    if (key == NULL || key[0] == '\0')
        return error_set(-EINVAL, "S3: empty object key");
    if (strlen(key) > KEY_MAX)
        return error_set(-EINVAL, "S3: object key longer than %d bytes", KEY_MAX);
    return 0;
}

/* ---- objects ------------------------------------------------------------- */

int s3_head_object(struct s3_client *client, const char *key, struct s3_object_info *out)
{
    int result = key_check(key);
    if (result < 0)
        return result;
    struct configuration configuration;
    configuration_snapshot(client, &configuration);
    struct exchange exchange = {
        .operation = "HEAD",
        .method = "HEAD",
        .key = key,
        .retry = 1,
        .content_length = -1,
        .last_modified = -1,
    };
    result = perform(client, &configuration, &exchange);
    configuration_release(&configuration);
    buffer_release(&exchange.body);
    if (result < 0)
        return result;
    if (exchange.content_length < 0)
        return error_set(-EIO, "S3 HEAD %s: no Content-Length in the answer", key);
    out->size = exchange.content_length;
    out->last_modified = exchange.last_modified;
    return 0;
}

/* A GET of `length` bytes from `offset` (-1: to the end) to `consume`; a
 * retry resumes after the bytes already delivered. 416 (nothing at the
 * offset) is 0 with nothing delivered. */
static int ranged_get(struct s3_client *client, const char *operation, const char *key,
                      int64_t offset, int64_t length,
                      int (*consume)(void *context, const void *data, size_t length), void *context)
{
    struct configuration configuration;
    configuration_snapshot(client, &configuration);
    struct exchange exchange = {
        .operation = operation,
        .method = "GET",
        .key = key,
        .retry = 1,
        .transfer = 1,
        .ranged = offset > 0 || length >= 0,
        .range_offset = offset,
        .want = length,
        .consume = consume,
        .consume_context = context,
    };
    int result = perform(client, &configuration, &exchange);
    configuration_release(&configuration);
    if (result < 0 && exchange.status == 416 && exchange.delivered == 0)
        result = 0;
    buffer_release(&exchange.body);
    return result;
}

struct memory_sink {
    char *buffer;
    size_t length, used;
};

static int memory_consume(void *context, const void *data, size_t length)
{
    struct memory_sink *sink = context;
    if (length > sink->length - sink->used)
        return -EIO; /* cannot happen: deliver() stops at `want` */
    memcpy(sink->buffer + sink->used, data, length);
    sink->used += length;
    return 0;
}

ssize_t s3_get_range(struct s3_client *client, const char *key, int64_t offset, void *buffer,
                     size_t length)
{
    int result = key_check(key);
    if (result < 0)
        return result;
    if (offset < 0)
        return error_set(-EINVAL, "S3 GET %s: negative offset", key);
    if (length > (size_t)SSIZE_MAX)
        length = (size_t)SSIZE_MAX;
    if (length == 0)
        return 0;
    struct memory_sink sink = {buffer, length, 0};
    result = ranged_get(client, "GET", key, offset, (int64_t)length, memory_consume, &sink);
    if (result < 0)
        return result;
    if (result > 0)
        return error_set(-EIO, "S3 GET %s: reading stopped", key);
    return (ssize_t)sink.used;
}

int s3_get_stream(struct s3_client *client, const char *key, int64_t offset, int64_t length,
                  int (*consume)(void *context, const void *data, size_t length), void *context)
{
    int result = key_check(key);
    if (result < 0)
        return result;
    if (offset < 0 || length < -1)
        return error_set(-EINVAL, "S3 GET %s: negative offset or length", key);
    if (length == 0)
        return 0;
    return ranged_get(client, "GET", key, offset, length, consume, context);
}

/* One PUT of `source`, hashed as `payload_hash`. */
static int put_source(struct s3_client *client, const struct configuration *configuration,
                      const char *key, struct upload_source *source, const char *payload_hash)
{
    struct exchange exchange = {
        .operation = "PUT",
        .method = "PUT",
        .key = key,
        .payload_hash = payload_hash,
        .source = source,
        .retry = 1,
        .transfer = 1,
    };
    int result = perform(client, configuration, &exchange);
    buffer_release(&exchange.body);
    return result;
}

int s3_put_memory(struct s3_client *client, const char *key, const void *data, size_t length)
{
    int result = key_check(key);
    if (result < 0)
        return result;
    struct digest digest;
    if ((result = digest_of_buffer(DIGEST_SHA256, data, length, &digest)) < 0)
        return result;
    struct upload_source source = {.memory = data, .fd = -1, .length = (int64_t)length};
    struct configuration configuration;
    configuration_snapshot(client, &configuration);
    result = put_source(client, &configuration, key, &source, digest_hex(&digest));
    configuration_release(&configuration);
    return result;
}

static int hex_sha256_valid(const char *text)
{
    size_t length = 0;
    for (; text[length]; length++)
        if (!isdigit((unsigned char)text[length]) && !(text[length] >= 'a' && text[length] <= 'f'))
            return 0;
    return length == 64;
}

/* ---- multipart ----------------------------------------------------------- */

struct multipart {
    struct s3_client *client;
    const struct configuration *configuration;
    const char *key;
    char upload_id[UPLOAD_ID_MAX];
    int fd;
    int64_t file_size, part_size;
    int part_count;
    char (*etags)[ETAG_MAX];
    pthread_mutex_t lock;
    int next_part; /* 1-based */
    int failure;   /* the first error, 0 while none */
    char failure_message[ERROR_MESSAGE_MAX];
};

/* "partNumber=N&uploadId=ID" or "uploadId=ID" (canonical order). */
static int multipart_query(const char *upload_id, int part_number, char *out, size_t out_size)
{
    char number[16];
    snprintf(number, sizeof number, "%d", part_number);
    struct s3_query_parameter parameters[2] = {{"partNumber", number}, {"uploadId", upload_id}};
    return part_number > 0 ? s3_canonical_query(parameters, 2, out, out_size)
                           : s3_canonical_query(parameters + 1, 1, out, out_size);
}

static int multipart_create(struct multipart *upload)
{
    struct exchange exchange = {
        .operation = "multipart create",
        .method = "POST",
        .key = upload->key,
        .query = "uploads=",
        .extra_headers = {"Content-Type: application/octet-stream"},
        .retry = 1,
    };
    int result = perform(upload->client, upload->configuration, &exchange);
    if (result == 0) {
        const char *body = exchange.body.data;
        xml_text(body, body ? body + exchange.body.length : NULL, "UploadId", upload->upload_id,
                 sizeof upload->upload_id);
        if (upload->upload_id[0] == '\0')
            result =
                error_set(-EIO, "S3 multipart create %s: no UploadId in the answer", upload->key);
    }
    buffer_release(&exchange.body);
    return result;
}

static int multipart_upload_part(struct multipart *upload, int part_number)
{
    char query[QUERY_MAX];
    int result = multipart_query(upload->upload_id, part_number, query, sizeof query);
    if (result < 0)
        return result;
    int64_t base = (int64_t)(part_number - 1) * upload->part_size;
    int64_t length =
        upload->file_size - base < upload->part_size ? upload->file_size - base : upload->part_size;
    struct upload_source source = {.fd = upload->fd, .base = base, .length = length};
    char operation[64];
    snprintf(operation, sizeof operation, "part %d/%d of", part_number, upload->part_count);
    struct exchange exchange = {
        .operation = operation,
        .method = "PUT",
        .key = upload->key,
        .query = query,
        .payload_hash = UNSIGNED_PAYLOAD,
        .source = &source,
        .retry = 1,
        .transfer = 1,
    };
    result = perform(upload->client, upload->configuration, &exchange);
    if (result == 0) {
        if (exchange.etag[0] == '\0')
            result = error_set(-EIO, "S3 %s %s: no ETag in the answer", operation, upload->key);
        else
            memcpy(upload->etags[part_number - 1], exchange.etag, ETAG_MAX);
    }
    buffer_release(&exchange.body);
    return result;
}

static void *multipart_worker(void *pointer)
{
    struct multipart *upload = pointer;
    for (;;) {
        pthread_mutex_lock(&upload->lock);
        int part_number = upload->failure == 0 && upload->next_part <= upload->part_count
                              ? upload->next_part++
                              : 0;
        pthread_mutex_unlock(&upload->lock);
        if (part_number == 0)
            return NULL;
        int result = multipart_upload_part(upload, part_number);
        if (result < 0) {
            pthread_mutex_lock(&upload->lock);
            if (upload->failure == 0) {
                upload->failure = result;
                snprintf(upload->failure_message, sizeof upload->failure_message, "%s",
                         error_message());
            }
            pthread_mutex_unlock(&upload->lock);
            return NULL;
        }
    }
}

static int multipart_complete(struct multipart *upload)
{
    struct buffer body = {0};
    char query[QUERY_MAX];
    int result = multipart_query(upload->upload_id, 0, query, sizeof query);
    if (result < 0)
        return result;
    static const char start[] = "<CompleteMultipartUpload "
                                "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    result = buffer_append(&body, start, strlen(start));
    for (int part = 1; result == 0 && part <= upload->part_count; part++) {
        char number[64];
        snprintf(number, sizeof number, "<Part><PartNumber>%d</PartNumber><ETag>", part);
        if ((result = buffer_append(&body, number, strlen(number))) == 0 &&
            (result = xml_escape_append(&body, upload->etags[part - 1])) == 0)
            result = buffer_append(&body, "</ETag></Part>", 14);
    }
    if (result == 0)
        result = buffer_append(&body, "</CompleteMultipartUpload>", 26);
    struct digest digest;
    if (result == 0)
        result = digest_of_buffer(DIGEST_SHA256, body.data, body.length, &digest);
    if (result < 0) {
        buffer_release(&body);
        return error_set(result, "S3 multipart complete %s: out of memory", upload->key);
    }
    struct exchange exchange = {
        .operation = "multipart complete",
        .method = "POST",
        .key = upload->key,
        .query = query,
        .payload_hash = digest_hex(&digest),
        .extra_headers = {"Content-Type: application/xml"},
        .post_body = body.data,
        .post_length = body.length,
        .retry = 1,
        .error_in_success = 1,
    };
    result = perform(upload->client, upload->configuration, &exchange);
    if (result == -ENOENT && exchange.attempts_made > 1) {
        /* An earlier attempt may have completed it before its answer was
         * lost (NoSuchUpload now): the object tells. */
        struct s3_object_info info;
        char message[ERROR_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s", error_message());
        if (s3_head_object(upload->client, upload->key, &info) == 0 &&
            info.size == upload->file_size && info.last_modified >= time(NULL) - 600)
            result = 0;
        else
            error_set(result, "%s", message);
    }
    buffer_release(&exchange.body);
    buffer_release(&body);
    return result;
}

/* Best effort: test servers answer 405 or 501, and the caller's error is
 * the one that matters. */
static void multipart_abort(struct multipart *upload)
{
    char query[QUERY_MAX];
    if (multipart_query(upload->upload_id, 0, query, sizeof query) < 0)
        return;
    struct exchange exchange = {
        .operation = "multipart abort",
        .method = "DELETE",
        .key = upload->key,
        .query = query,
        .retry = 1,
    };
    perform(upload->client, upload->configuration, &exchange);
    buffer_release(&exchange.body);
}

static int put_multipart(struct s3_client *client, const struct configuration *configuration,
                         const char *key, int fd, int64_t file_size)
{
    struct multipart upload = {
        .client = client,
        .configuration = configuration,
        .key = key,
        .fd = fd,
        .file_size = file_size,
        .part_size = configuration->settings.part_size,
        .next_part = 1,
    };
    if (file_size > MAXIMUM_OBJECT_SIZE)
        return error_set(-EFBIG, "S3 PUT %s: %" PRId64 " bytes is more than S3's 5 TiB", key,
                         file_size);
    /* At most 10000 parts: larger parts (whole MiB) for huge files. */
    if ((file_size + upload.part_size - 1) / upload.part_size > MAXIMUM_PART_COUNT) {
        int64_t size = (file_size + MAXIMUM_PART_COUNT - 1) / MAXIMUM_PART_COUNT;
        upload.part_size = (size + MEBIBYTE - 1) / MEBIBYTE * MEBIBYTE;
    }
    upload.part_count = (int)((file_size + upload.part_size - 1) / upload.part_size);
    upload.etags = calloc((size_t)upload.part_count, sizeof *upload.etags);
    if (upload.etags == NULL)
        return error_set(-ENOMEM, "out of memory");
    int result = multipart_create(&upload);
    if (result < 0) {
        free(upload.etags);
        return result;
    }
    pthread_mutex_init(&upload.lock, NULL);
    int helpers = configuration->settings.upload_concurrency - 1;
    if (helpers > upload.part_count - 1)
        helpers = upload.part_count - 1;
    pthread_t threads[64];
    int started = 0;
    for (; started < helpers; started++)
        if (pthread_create(&threads[started], NULL, multipart_worker, &upload) != 0)
            break; /* fewer threads, same result */
    multipart_worker(&upload);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&upload.lock);

    result = upload.failure;
    if (result < 0)
        error_set(result, "%s", upload.failure_message);
    else
        result = multipart_complete(&upload);
    if (result < 0) {
        char message[ERROR_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s", error_message());
        multipart_abort(&upload);
        error_set(result, "%s", message);
    }
    free(upload.etags);
    return result;
}

int s3_put_file(struct s3_client *client, const char *key, const char *file_path,
                const char *sha256_hex)
{
    int result = key_check(key);
    if (result < 0)
        return result;
    if (sha256_hex != NULL && !hex_sha256_valid(sha256_hex))
        return error_set(-EINVAL, "S3 PUT %s: the payload hash must be 64 lowercase hex digits",
                         key);
    int fd = open(file_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(-errno, "S3 PUT %s: cannot open %s: %s", key, file_path, strerror(errno));
    struct stat status;
    if (fstat(fd, &status) < 0) {
        int error = errno;
        close(fd);
        return error_set(-error, "S3 PUT %s: cannot stat %s: %s", key, file_path, strerror(error));
    }
    if (!S_ISREG(status.st_mode)) {
        close(fd);
        return error_set(-EINVAL, "S3 PUT %s: %s is not a regular file", key, file_path);
    }
    struct configuration configuration;
    configuration_snapshot(client, &configuration);
    if ((int64_t)status.st_size <= configuration.settings.part_size) {
        struct upload_source source = {.fd = fd, .length = (int64_t)status.st_size};
        result = put_source(client, &configuration, key, &source,
                            sha256_hex ? sha256_hex : UNSIGNED_PAYLOAD);
    } else {
        result = put_multipart(client, &configuration, key, fd, (int64_t)status.st_size);
    }
    configuration_release(&configuration);
    close(fd);
    return result;
}

/* ---- touch, delete, list ------------------------------------------------- */

int s3_touch_object(struct s3_client *client, const char *key)
{
    int result = key_check(key);
    if (result < 0)
        return result;
    struct configuration configuration;
    configuration_snapshot(client, &configuration);
    char encoded[ENCODED_KEY_MAX];
    char source_header[sizeof encoded + 300];
    if ((result = s3_uri_encode(key, strlen(key), 0, encoded, sizeof encoded)) == 0) {
        snprintf(source_header, sizeof source_header, "x-amz-copy-source: /%s/%s",
                 configuration.settings.bucket, encoded);
        struct upload_source empty = {.memory = "", .fd = -1};
        struct exchange exchange = {
            .operation = "copy",
            .method = "PUT",
            .key = key,
            .source = &empty,
            .extra_headers = {source_header, "x-amz-metadata-directive: REPLACE",
                              "Content-Type: application/octet-stream"},
            .retry = 1,
            .error_in_success = 1,
        };
        result = perform(client, &configuration, &exchange);
        buffer_release(&exchange.body);
    }
    configuration_release(&configuration);
    return result;
}

int s3_delete_object(struct s3_client *client, const char *key)
{
    int result = key_check(key);
    if (result < 0)
        return result;
    struct configuration configuration;
    configuration_snapshot(client, &configuration);
    struct exchange exchange = {.operation = "DELETE", .method = "DELETE", .key = key, .retry = 1};
    result = perform(client, &configuration, &exchange);
    configuration_release(&configuration);
    buffer_release(&exchange.body);
    return result == -ENOENT ? 0 : result;
}

/* Visits the <Contents> of one page; sets `token` ("" on the last page). */
static int list_page_visit(const char *body, size_t length, const char *prefix,
                           int (*visit)(const char *key, const struct s3_object_info *info,
                                        void *context),
                           void *context, char *token, size_t token_size)
{
    const char *end = body + length;
    const char *at = body;
    char key[KEY_MAX + 1], text[64];
    for (;;) {
        const char *contents;
        size_t contents_length;
        if (!xml_find(at, end, "Contents", &contents, &contents_length))
            break;
        const char *contents_end = contents + contents_length;
        const char *raw;
        size_t raw_length;
        if (!xml_find(contents, contents_end, "Key", &raw, &raw_length) ||
            xml_unescape(raw, raw_length, key, sizeof key) < 0)
            return error_set(-EIO, "S3 list %s: a <Contents> without a readable <Key>", prefix);
        struct s3_object_info info = {-1, -1};
        xml_text(contents, contents_end, "Size", text, sizeof text);
        char *number_end;
        errno = 0;
        long long size = strtoll(text, &number_end, 10);
        if (text[0] == '\0' || *number_end != '\0' || errno != 0 || size < 0)
            return error_set(-EIO, "S3 list %s: key %s has no valid <Size>", prefix, key);
        info.size = size;
        xml_text(contents, contents_end, "LastModified", text, sizeof text);
        info.last_modified = iso8601_seconds(text);
        if (info.last_modified < 0)
            return error_set(-EIO, "S3 list %s: key %s has no valid <LastModified>", prefix, key);
        int result = visit(key, &info, context);
        if (result != 0)
            return result;
        at = contents_end;
    }
    xml_text(body, end, "IsTruncated", text, sizeof text);
    token[0] = '\0';
    if (strcmp(text, "true") == 0) {
        xml_text(body, end, "NextContinuationToken", token, token_size);
        if (token[0] == '\0')
            return error_set(-EIO, "S3 list %s: truncated page without a continuation token",
                             prefix);
    }
    return 0;
}

int s3_list_objects(struct s3_client *client, const char *prefix,
                    int (*visit)(const char *key, const struct s3_object_info *info, void *context),
                    void *context)
{
    if (prefix == NULL)
        prefix = "";
    if (strlen(prefix) > KEY_MAX)
        return error_set(-EINVAL, "S3 list: prefix longer than %d bytes", KEY_MAX);
    struct configuration configuration;
    configuration_snapshot(client, &configuration);
    char max_keys[16];
    snprintf(max_keys, sizeof max_keys, "%d", configuration.settings.list_max_keys);
    char token[LIST_TOKEN_MAX] = "", previous_token[sizeof token];
    char *query = malloc(QUERY_MAX);
    int result = query ? 0 : error_set(-ENOMEM, "out of memory");
    while (result == 0) {
        struct s3_query_parameter parameters[4];
        size_t count = 0;
        if (token[0])
            parameters[count++] = (struct s3_query_parameter){"continuation-token", token};
        parameters[count++] = (struct s3_query_parameter){"list-type", "2"};
        if (configuration.settings.list_max_keys > 0)
            parameters[count++] = (struct s3_query_parameter){"max-keys", max_keys};
        parameters[count++] = (struct s3_query_parameter){"prefix", prefix};
        if ((result = s3_canonical_query(parameters, count, query, QUERY_MAX)) < 0)
            break;
        struct exchange exchange = {
            .operation = "list",
            .method = "GET",
            .key = NULL,
            .query = query,
            .retry = 1,
            .body_limit = LIST_BODY_MAX,
        };
        result = perform(client, &configuration, &exchange);
        if (result == 0) {
            const char *body = exchange.body.data ? exchange.body.data : "";
            memcpy(previous_token, token, sizeof token);
            result = list_page_visit(body, exchange.body.length, prefix, visit, context, token,
                                     sizeof token);
        }
        buffer_release(&exchange.body);
        if (result == 0 && token[0] == '\0')
            break;
        if (result == 0 && strcmp(token, previous_token) == 0)
            result =
                error_set(-EIO, "S3 list %s: the server repeats its continuation token", prefix);
    }
    free(query);
    configuration_release(&configuration);
    return result;
}

/* ---- presigned URLs ------------------------------------------------------ */

int s3_presign_get(struct s3_client *client, const char *key, time_t now, char *url,
                   size_t url_size)
{
    int result = key_check(key);
    if (result < 0)
        return result;
    struct configuration configuration;
    configuration_snapshot(client, &configuration);
    const struct s3_settings *settings = &configuration.settings;
    char host[sizeof configuration.host + sizeof settings->bucket + 1];
    char path[sizeof settings->bucket + KEY_MAX + 3];
    if (settings->path_style) {
        snprintf(host, sizeof host, "%s", configuration.host);
        snprintf(path, sizeof path, "/%s/%s", settings->bucket, key);
    } else {
        snprintf(host, sizeof host, "%s.%s", settings->bucket, configuration.host);
        snprintf(path, sizeof path, "/%s", key);
    }
    struct s3_presign_request request = {
        .method = "GET",
        .scheme = configuration.scheme,
        .host = host,
        .path = path,
        .access_key = settings->access_key,
        .secret_key = settings->secret_key,
        .region = settings->region,
        .now = now,
        .expires_seconds = settings->presign_expiry_seconds,
    };
    result = s3_presign_url(&request, url, url_size);
    configuration_release(&configuration);
    return result;
}
