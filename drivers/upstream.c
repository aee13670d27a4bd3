/* drivers/upstream.h */
#include "drivers/upstream.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "layout/error.h"

/* libcurl's receive buffer (its default is 16 KiB): a blob's bytes reach the
 * sink in pieces this large, one hash update and one write each. */
#define RECEIVE_BUFFER_BYTES (256L * 1024)

#define HANDLE_POOL_SIZE 8
#define URL_MAX 4096
#define HEADER_VALUE_MAX 4096
#define ERROR_BODY_MAX 1024
#define TOKEN_BODY_MAX (64 * 1024)

static const char ACCEPT_MANIFESTS[] = "Accept: application/vnd.oci.image.index.v1+json, "
                                       "application/vnd.oci.image.manifest.v1+json, "
                                       "application/vnd.docker.distribution.manifest.list.v2+json, "
                                       "application/vnd.docker.distribution.manifest.v2+json";

/* ---- settings and names ---- */

void upstream_settings_release(struct upstream_settings *settings)
{
    free(settings->prefix);
    free(settings->url);
    free(settings->username);
    free(settings->password);
    free(settings->credentials_file);
    free(settings->ca_bundle);
    for (size_t i = 0; i < settings->host_count; i++)
        free(settings->hosts[i]);
    free(settings->hosts);
    memset(settings, 0, sizeof *settings);
}

/* The host of "scheme://host[:port]" into `out`. */
static void url_host(const char *url, char *out, size_t size)
{
    const char *start = strstr(url, "://");
    start = start != NULL ? start + 3 : url;
    size_t length = strcspn(start, ":/");
    if (length >= size)
        length = size - 1;
    memcpy(out, start, length);
    out[length] = '\0';
}

int upstream_settings_is_docker_hub(const struct upstream_settings *settings)
{
    static const char *const hub_hosts[] = {"registry-1.docker.io", "index.docker.io", "docker.io",
                                            "registry.hub.docker.com"};
    char host[256];
    url_host(settings->url != NULL ? settings->url : "", host, sizeof host);
    for (size_t i = 0; i < sizeof hub_hosts / sizeof hub_hosts[0]; i++)
        if (strcasecmp(host, hub_hosts[i]) == 0)
            return 1;
    for (size_t i = 0; i < settings->host_count; i++)
        if (strcasecmp(settings->hosts[i], "docker.io") == 0)
            return 1;
    return 0;
}

int upstream_remote_name(const struct upstream_settings *settings, const char *name, char *out,
                         size_t size)
{
    size_t prefix_length = strlen(settings->prefix);
    const char *rest = name;
    if (prefix_length > 0) {
        if (strncmp(name, settings->prefix, prefix_length) != 0 || name[prefix_length] != '/' ||
            name[prefix_length + 1] == '\0')
            return 0;
        rest = name + prefix_length + 1;
    }
    const char *library =
        strchr(rest, '/') == NULL && upstream_settings_is_docker_hub(settings) ? "library/" : "";
    int written = snprintf(out, size, "%s%s", library, rest);
    if (written < 0 || (size_t)written >= size)
        return error_set(-ENAMETOOLONG, "upstream name of %s is too long", name);
    return 1;
}

/* ---- WWW-Authenticate ---- */

static int is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t skip_blanks(const char *text, size_t length, size_t at)
{
    while (at < length && (text[at] == ' ' || text[at] == '\t'))
        at++;
    return at;
}

int upstream_parse_challenge(const char *text, size_t length, struct upstream_challenge *out)
{
    memset(out, 0, sizeof *out);
    size_t at = skip_blanks(text, length, 0), start = at;
    while (at < length && is_token_char(text[at]))
        at++;
    if (at == start)
        return error_set(-EINVAL, "WWW-Authenticate without a scheme");
    size_t scheme_length = at - start;
    if (scheme_length == 5 && strncasecmp(text + start, "Basic", 5) == 0)
        out->scheme = UPSTREAM_SCHEME_BASIC;
    else if (scheme_length == 6 && strncasecmp(text + start, "Bearer", 6) == 0)
        out->scheme = UPSTREAM_SCHEME_BEARER;
    else
        out->scheme = UPSTREAM_SCHEME_OTHER;
    for (;;) {
        at = skip_blanks(text, length, at);
        while (at < length && (text[at] == ',' || text[at] == ' ' || text[at] == '\t'))
            at++;
        if (at >= length)
            return 0;
        size_t name_start = at;
        while (at < length && is_token_char(text[at]))
            at++;
        size_t name_length = at - name_start;
        if (name_length == 0)
            return error_set(-EINVAL, "WWW-Authenticate: unexpected character");
        at = skip_blanks(text, length, at);
        if (at >= length || text[at] != '=') {
            /* A token68 or the next challenge's scheme: this one ends. */
            return 0;
        }
        at = skip_blanks(text, length, at + 1);
        char value[UPSTREAM_CHALLENGE_VALUE_MAX];
        size_t value_length = 0;
        if (at < length && text[at] == '"') {
            at++;
            for (;;) {
                if (at >= length)
                    return error_set(-EINVAL, "WWW-Authenticate: unterminated quoted string");
                char c = text[at++];
                if (c == '"')
                    break;
                if (c == '\\') {
                    if (at >= length)
                        return error_set(-EINVAL, "WWW-Authenticate: unterminated escape");
                    c = text[at++];
                }
                if (c == '\0' || value_length + 1 >= sizeof value)
                    return error_set(-EINVAL, "WWW-Authenticate: value too long or with NUL");
                value[value_length++] = c;
            }
        } else {
            while (at < length && is_token_char(text[at])) {
                if (value_length + 1 >= sizeof value)
                    return error_set(-EINVAL, "WWW-Authenticate: value too long");
                value[value_length++] = text[at++];
            }
        }
        value[value_length] = '\0';
        char *target = NULL;
        if (name_length == 5 && strncasecmp(text + name_start, "realm", 5) == 0)
            target = out->realm;
        else if (name_length == 7 && strncasecmp(text + name_start, "service", 7) == 0)
            target = out->service;
        else if (name_length == 5 && strncasecmp(text + name_start, "scope", 5) == 0)
            target = out->scope;
        if (target != NULL)
            memcpy(target, value, value_length + 1);
    }
}

int upstream_parse_token_response(const char *body, size_t length, char **token_out,
                                  uint64_t *lifetime_seconds_out)
{
    json_error_t problem;
    json_t *root = json_loadb(body, length, JSON_REJECT_DUPLICATES, &problem);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return error_set(-EINVAL, "token response is not a JSON object");
    }
    json_t *token = json_object_get(root, "token");
    if (!json_is_string(token) || json_string_length(token) == 0)
        token = json_object_get(root, "access_token");
    if (!json_is_string(token) || json_string_length(token) == 0 ||
        strlen(json_string_value(token)) != json_string_length(token)) {
        json_decref(root);
        return error_set(-EINVAL, "token response has no token");
    }
    for (const char *c = json_string_value(token); *c != '\0'; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) {
            json_decref(root);
            return error_set(-EINVAL, "token has characters a header cannot carry");
        }
    uint64_t lifetime = UPSTREAM_TOKEN_DEFAULT_LIFETIME_SECONDS;
    json_t *expires = json_object_get(root, "expires_in");
    if (json_is_integer(expires) && json_integer_value(expires) > 0)
        lifetime = (uint64_t)json_integer_value(expires);
    char *copy = strdup(json_string_value(token));
    json_decref(root);
    if (copy == NULL)
        return error_set(-ENOMEM, "out of memory");
    *token_out = copy;
    *lifetime_seconds_out = lifetime;
    return 0;
}

/* ---- the client ---- */

struct cached_token {
    char scope[UPSTREAM_CHALLENGE_VALUE_MAX];
    char *token;
    time_t expires_at;
};

enum auth_mode { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct upstream {
    const struct upstream_settings *settings;
    char *username, *password; /* settings' or the credentials file's */
    pthread_mutex_t lock;      /* the fields below */
    enum auth_mode mode;
    struct cached_token tokens[UPSTREAM_TOKEN_CACHE_SIZE];
    size_t next_token;
    CURL *pool[HANDLE_POOL_SIZE];
    size_t pooled;
    atomic_ulong requests;
    upstream_observer *observer; /* set before the upstream is shared */
    void *observer_context;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_initialization;

static void curl_initialize(void)
{
    curl_initialization = curl_global_init(CURL_GLOBAL_ALL);
}

static int read_credentials_file(const char *path, char **username, char **password)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        int error = errno;
        return error_set(-error, "%s: cannot open: %s", path, strerror(error));
    }
    char line[2048];
    int result = 0;
    if (fgets(line, sizeof line, file) == NULL)
        result = error_set(-EINVAL, "%s: empty (expected a line username:password)", path);
    fclose(file);
    if (result < 0)
        return result;
    line[strcspn(line, "\r\n")] = '\0';
    char *colon = strchr(line, ':');
    if (colon == NULL || colon == line)
        return error_set(-EINVAL, "%s: expected a first line username:password", path);
    *colon = '\0';
    *username = strdup(line);
    *password = strdup(colon + 1);
    explicit_bzero(line, sizeof line);
    if (*username == NULL || *password == NULL)
        return error_set(-ENOMEM, "out of memory");
    return 0;
}

int upstream_create(const struct upstream_settings *settings, struct upstream **out)
{
    pthread_once(&curl_once, curl_initialize);
    if (curl_initialization != CURLE_OK)
        return error_set(-EIO, "libcurl cannot start: %s", curl_easy_strerror(curl_initialization));
    struct upstream *upstream = calloc(1, sizeof *upstream);
    if (upstream == NULL)
        return error_set(-ENOMEM, "out of memory");
    upstream->settings = settings;
    pthread_mutex_init(&upstream->lock, NULL);
    int result = 0;
    if (settings->credentials_file != NULL)
        result = read_credentials_file(settings->credentials_file, &upstream->username,
                                       &upstream->password);
    else if (settings->username != NULL) {
        upstream->username = strdup(settings->username);
        upstream->password = strdup(settings->password != NULL ? settings->password : "");
        if (upstream->username == NULL || upstream->password == NULL)
            result = error_set(-ENOMEM, "out of memory");
    }
    if (result == 0 && settings->ca_bundle != NULL) {
        FILE *file = fopen(settings->ca_bundle, "r");
        if (file == NULL)
            result = error_set(-errno, "%s: cannot open the CA bundle: %s", settings->ca_bundle,
                               strerror(errno));
        else
            fclose(file);
    }
    if (result < 0) {
        upstream_destroy(upstream);
        return result;
    }
    *out = upstream;
    return 0;
}

void upstream_destroy(struct upstream *upstream)
{
    if (upstream == NULL)
        return;
    for (size_t i = 0; i < upstream->pooled; i++)
        curl_easy_cleanup(upstream->pool[i]);
    for (size_t i = 0; i < UPSTREAM_TOKEN_CACHE_SIZE; i++)
        free(upstream->tokens[i].token);
    if (upstream->password != NULL)
        explicit_bzero(upstream->password, strlen(upstream->password));
    free(upstream->username);
    free(upstream->password);
    pthread_mutex_destroy(&upstream->lock);
    free(upstream);
}

void upstream_set_observer(struct upstream *upstream, upstream_observer *observer, void *context)
{
    upstream->observer = observer;
    upstream->observer_context = context;
}

const struct upstream_settings *upstream_settings_of(const struct upstream *upstream)
{
    return upstream->settings;
}

unsigned long upstream_request_count(const struct upstream *upstream)
{
    return atomic_load(&upstream->requests);
}

static CURL *take_handle(struct upstream *upstream)
{
    CURL *handle = NULL;
    pthread_mutex_lock(&upstream->lock);
    if (upstream->pooled > 0)
        handle = upstream->pool[--upstream->pooled];
    pthread_mutex_unlock(&upstream->lock);
    if (handle != NULL)
        curl_easy_reset(handle);
    else
        handle = curl_easy_init();
    return handle;
}

static void give_handle(struct upstream *upstream, CURL *handle)
{
    pthread_mutex_lock(&upstream->lock);
    if (upstream->pooled < HANDLE_POOL_SIZE) {
        upstream->pool[upstream->pooled++] = handle;
        handle = NULL;
    }
    pthread_mutex_unlock(&upstream->lock);
    if (handle != NULL)
        curl_easy_cleanup(handle);
}

/* A token for `scope` if one is cached and valid: a malloc'd copy. */
static char *cached_token(struct upstream *upstream, const char *scope)
{
    char *copy = NULL;
    time_t now = time(NULL);
    pthread_mutex_lock(&upstream->lock);
    for (size_t i = 0; i < UPSTREAM_TOKEN_CACHE_SIZE; i++) {
        struct cached_token *entry = &upstream->tokens[i];
        if (entry->token != NULL && strcmp(entry->scope, scope) == 0 && entry->expires_at > now) {
            copy = strdup(entry->token);
            break;
        }
    }
    pthread_mutex_unlock(&upstream->lock);
    return copy;
}

static void cache_token(struct upstream *upstream, const char *scope, const char *token,
                        uint64_t lifetime)
{
    char *copy = strdup(token);
    if (copy == NULL)
        return;
    /* A little early, so that a token never expires on its way. */
    time_t expires_at = time(NULL) + (time_t)(lifetime > 20 ? lifetime - 10 : lifetime / 2);
    pthread_mutex_lock(&upstream->lock);
    struct cached_token *entry = NULL;
    for (size_t i = 0; i < UPSTREAM_TOKEN_CACHE_SIZE && entry == NULL; i++)
        if (upstream->tokens[i].token != NULL && strcmp(upstream->tokens[i].scope, scope) == 0)
            entry = &upstream->tokens[i];
    if (entry == NULL) {
        entry = &upstream->tokens[upstream->next_token];
        upstream->next_token = (upstream->next_token + 1) % UPSTREAM_TOKEN_CACHE_SIZE;
    }
    free(entry->token);
    snprintf(entry->scope, sizeof entry->scope, "%s", scope);
    entry->token = copy;
    entry->expires_at = expires_at;
    upstream->mode = AUTH_BEARER;
    pthread_mutex_unlock(&upstream->lock);
}

/* A blob transfer over its requests (the first and its resumptions). */
struct blob_transfer {
    const struct upstream_blob_sink *sink;
    int64_t received; /* bytes of the blob given to the sink, from 0 */
    int64_t size;     /* as the upstream announced it; -1: not (yet) */
    int64_t asked;    /* this request's Range start; 0: no Range */
    int begun;        /* this answer's bytes started (sink->begin called) */
};

/* One exchange's state. */
struct exchange {
    long status;
    char www_authenticate[HEADER_VALUE_MAX];
    char content_type[MEDIA_TYPE_MAX];
    char digest[DIGEST_STRING_MAX + 1];
    int64_t content_length; /* -1: none */
    /* A 2xx body: into `body` (bounded by `body_max`) or to the sink. */
    char *body;
    size_t length, body_max;
    struct blob_transfer *blob; /* a blob's bytes go to its sink */
    int sink_result;
    char content_range[128];
    CURLcode curl_code; /* of the last perform */
    int too_large;
    char error_body[ERROR_BODY_MAX];
    size_t error_length;
    int64_t ratelimit_remaining; /* RateLimit-Remaining's leading number; -1: none */
};

static void copy_header_value(const char *value, size_t length, char *out, size_t size)
{
    while (length > 0 && (value[0] == ' ' || value[0] == '\t')) {
        value++;
        length--;
    }
    while (length > 0 && (value[length - 1] == '\r' || value[length - 1] == '\n' ||
                          value[length - 1] == ' ' || value[length - 1] == '\t'))
        length--;
    if (length >= size)
        length = size - 1;
    memcpy(out, value, length);
    out[length] = '\0';
}

static size_t on_header(char *data, size_t size, size_t count, void *pointer)
{
    struct exchange *exchange = pointer;
    size_t length = size * count;
    if (length >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a redirect): forget the last one's. */
        exchange->www_authenticate[0] = exchange->content_type[0] = exchange->digest[0] = '\0';
        exchange->content_range[0] = '\0';
        exchange->content_length = -1;
        return length;
    }
    const char *colon = memchr(data, ':', length);
    if (colon == NULL)
        return length;
    size_t name_length = (size_t)(colon - data);
    const char *value = colon + 1;
    size_t value_length = length - name_length - 1;
    if (name_length == 16 && strncasecmp(data, "www-authenticate", 16) == 0) {
        if (exchange->www_authenticate[0] == '\0')
            copy_header_value(value, value_length, exchange->www_authenticate,
                              sizeof exchange->www_authenticate);
    } else if (name_length == 12 && strncasecmp(data, "content-type", 12) == 0)
        copy_header_value(value, value_length, exchange->content_type,
                          sizeof exchange->content_type);
    else if (name_length == 13 && strncasecmp(data, "content-range", 13) == 0)
        copy_header_value(value, value_length, exchange->content_range,
                          sizeof exchange->content_range);
    else if (name_length == 21 && strncasecmp(data, "docker-content-digest", 21) == 0)
        copy_header_value(value, value_length, exchange->digest, sizeof exchange->digest);
    else if (name_length == 19 && strncasecmp(data, "ratelimit-remaining", 19) == 0) {
        /* Docker Hub: "76;w=21600" (pulls left in the window). */
        char number[32];
        copy_header_value(value, value_length, number, sizeof number);
        char *end;
        long long parsed = strtoll(number, &end, 10);
        if (end != number && parsed >= 0 && (*end == '\0' || *end == ';'))
            exchange->ratelimit_remaining = parsed;
    } else if (name_length == 14 && strncasecmp(data, "content-length", 14) == 0) {
        char number[32];
        copy_header_value(value, value_length, number, sizeof number);
        char *end;
        long long parsed = strtoll(number, &end, 10);
        exchange->content_length = end != number && *end == '\0' && parsed >= 0 ? parsed : -1;
    }
    return length;
}

int upstream_parse_content_range(const char *text, size_t length, int64_t *first_out,
                                 int64_t *last_out, int64_t *total_out)
{
    int64_t numbers[3] = {0, 0, -1};
    size_t at = 0;
    if (length < 6 || memcmp(text, "bytes ", 6) != 0)
        return error_set(-EINVAL, "Content-Range is not of bytes");
    at = 6;
    for (int i = 0; i < 3; i++) {
        if (i == 2 && at < length && text[at] == '*') {
            at++;
            break;
        }
        size_t start = at;
        int64_t value = 0;
        while (at < length && text[at] >= '0' && text[at] <= '9') {
            if (value > (INT64_MAX - 9) / 10)
                return error_set(-EINVAL, "Content-Range: number too large");
            value = value * 10 + (text[at++] - '0');
        }
        if (at == start)
            return error_set(-EINVAL, "Content-Range: number expected");
        numbers[i] = value;
        if (i < 2) {
            if (at >= length || text[at] != (i == 0 ? '-' : '/'))
                return error_set(-EINVAL, "Content-Range: '%c' expected", i == 0 ? '-' : '/');
            at++;
        }
    }
    if (at != length)
        return error_set(-EINVAL, "Content-Range: trailing bytes");
    if (numbers[1] < numbers[0] || (numbers[2] >= 0 && numbers[1] >= numbers[2]))
        return error_set(-EINVAL, "Content-Range: empty or past the end");
    *first_out = numbers[0];
    *last_out = numbers[1];
    *total_out = numbers[2];
    return 0;
}

/* The first bytes of a blob answer: is it the one asked for, where do its
 * bytes go, how large is the blob. */
static int blob_begin(struct exchange *exchange)
{
    struct blob_transfer *transfer = exchange->blob;
    int64_t offset, size;
    if (exchange->status == 200) {
        offset = 0;
        size = exchange->content_length;
    } else if (exchange->status == 206 && transfer->asked > 0) {
        int64_t first, last, total;
        if (upstream_parse_content_range(exchange->content_range, strlen(exchange->content_range),
                                         &first, &last, &total) < 0 ||
            first != transfer->asked)
            return error_set(-EPROTO, "answered Range bytes=%lld- with Content-Range \"%s\"",
                             (long long)transfer->asked, exchange->content_range);
        offset = first;
        size = total;
        if (size < 0 && exchange->content_length >= 0)
            size = first + exchange->content_length;
    } else
        return error_set(-EPROTO, "a blob answer with status %ld", exchange->status);
    if (size >= 0 && transfer->size >= 0 && size != transfer->size)
        return error_set(-EPROTO, "the blob was %lld bytes, now %lld", (long long)transfer->size,
                         (long long)size);
    if (size >= 0)
        transfer->size = size;
    transfer->begun = 1;
    transfer->received = offset;
    return transfer->sink->begin(transfer->sink->context, offset, transfer->size);
}

static int blob_bytes(struct exchange *exchange, const char *data, size_t length)
{
    struct blob_transfer *transfer = exchange->blob;
    int result;
    if (!transfer->begun && (result = blob_begin(exchange)) != 0)
        return result;
    if (transfer->size >= 0 && (int64_t)length > transfer->size - transfer->received)
        return error_set(-EPROTO, "more bytes than the %lld announced", (long long)transfer->size);
    if ((result = transfer->sink->write(transfer->sink->context, data, length)) != 0)
        return result;
    transfer->received += (int64_t)length;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t count, void *pointer)
{
    struct exchange *exchange = pointer;
    size_t length = size * count;
    if (exchange->status / 100 != 2) {
        size_t room = sizeof exchange->error_body - 1 - exchange->error_length;
        size_t take = length < room ? length : room;
        memcpy(exchange->error_body + exchange->error_length, data, take);
        exchange->error_length += take;
        exchange->error_body[exchange->error_length] = '\0';
        return length;
    }
    if (exchange->blob != NULL) {
        int result = blob_bytes(exchange, data, length);
        if (result != 0) {
            exchange->sink_result = result;
            return 0; /* stops the transfer */
        }
        exchange->length += length;
        return length;
    }
    if (exchange->length + length > exchange->body_max) {
        exchange->too_large = 1;
        return 0;
    }
    char *grown = realloc(exchange->body, exchange->length + length + 1);
    if (grown == NULL)
        return 0;
    exchange->body = grown;
    memcpy(exchange->body + exchange->length, data, length);
    exchange->length += length;
    exchange->body[exchange->length] = '\0';
    return length;
}

/* The status line of each response (a redirect's too), so that on_body
 * knows whether the bytes are the answer or an error page. */
static size_t on_header_with_status(char *data, size_t size, size_t count, void *pointer)
{
    struct exchange *exchange = pointer;
    size_t length = size * count;
    if (length >= 12 && memcmp(data, "HTTP/", 5) == 0) {
        const char *space = memchr(data, ' ', length);
        if (space != NULL && (size_t)(space - data) + 4 <= length)
            exchange->status = strtol(space + 1, NULL, 10);
    }
    return on_header(data, size, count, pointer);
}

struct request {
    const char *method; /* "GET" or "HEAD" */
    const char *url;
    const char *accept;   /* a whole "Accept: ..." line, or NULL */
    const char *range;    /* a whole "Range: ..." line, or NULL */
    const char *bearer;   /* a token, or NULL */
    int basic;            /* send the credentials as Basic auth */
    long timeout_seconds; /* 0: no total limit, only the stall limit */
};

static int is_connection_failure(CURLcode code)
{
    return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
           code == CURLE_COULDNT_RESOLVE_PROXY || code == CURLE_GOT_NOTHING ||
           code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR || code == CURLE_OPERATION_TIMEDOUT;
}

/* Performs one request (once more after a connection failure before any
 * answer). 0 with `exchange->status` set, or -EHOSTUNREACH. */
static int perform(struct upstream *upstream, const struct request *request,
                   struct exchange *exchange)
{
    for (int attempt = 0;; attempt++) {
        CURL *handle = take_handle(upstream);
        if (handle == NULL)
            return error_set(-ENOMEM, "out of memory (curl handle)");
        struct curl_slist *headers = NULL, *grown;
        char authorization[HEADER_VALUE_MAX + 64];
        int failed = 0;
        if (request->accept != NULL) {
            if ((grown = curl_slist_append(headers, request->accept)) == NULL)
                failed = 1;
            else
                headers = grown;
        }
        if (!failed && request->range != NULL) {
            if ((grown = curl_slist_append(headers, request->range)) == NULL)
                failed = 1;
            else
                headers = grown;
        }
        if (!failed && request->bearer != NULL) {
            snprintf(authorization, sizeof authorization, "Authorization: Bearer %s",
                     request->bearer);
            if ((grown = curl_slist_append(headers, authorization)) == NULL)
                failed = 1;
            else
                headers = grown;
            explicit_bzero(authorization, sizeof authorization);
        }
        if (failed) {
            curl_slist_free_all(headers);
            give_handle(upstream, handle);
            return error_set(-ENOMEM, "out of memory");
        }
        char detail[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(handle, CURLOPT_URL, request->url);
        curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(handle, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, detail);
        curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(handle, CURLOPT_USERAGENT, "cairn-mirror");
        curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, (long)UPSTREAM_CONNECT_TIMEOUT_SECONDS);
        if (request->timeout_seconds > 0)
            curl_easy_setopt(handle, CURLOPT_TIMEOUT, request->timeout_seconds);
        curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, (long)UPSTREAM_STALL_SECONDS);
        if (upstream->settings->ca_bundle != NULL)
            curl_easy_setopt(handle, CURLOPT_CAINFO, upstream->settings->ca_bundle);
        if (request->basic && upstream->username != NULL) {
            curl_easy_setopt(handle, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            curl_easy_setopt(handle, CURLOPT_USERNAME, upstream->username);
            curl_easy_setopt(handle, CURLOPT_PASSWORD, upstream->password);
        }
        if (strcmp(request->method, "HEAD") == 0)
            curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, on_header_with_status);
        curl_easy_setopt(handle, CURLOPT_HEADERDATA, exchange);
        /* Larger pieces for blobs: fewer calls into the sink (hash, write). */
        curl_easy_setopt(handle, CURLOPT_BUFFERSIZE, RECEIVE_BUFFER_BYTES);
        curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(handle, CURLOPT_WRITEDATA, exchange);
        atomic_fetch_add(&upstream->requests, 1);
        exchange->status = 0;
        exchange->ratelimit_remaining = -1;
        CURLcode code = curl_easy_perform(handle);
        exchange->curl_code = code;
        long status = 0;
        curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
        if (upstream->observer != NULL)
            upstream->observer(upstream->observer_context, (int)status,
                               exchange->ratelimit_remaining);
        curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(handle, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(handle, CURLOPT_PASSWORD, "");
        curl_slist_free_all(headers);
        give_handle(upstream, handle);
        if (code == CURLE_OK) {
            exchange->status = status;
            return 0;
        }
        if (exchange->sink_result != 0)
            return exchange->sink_result;
        if (exchange->too_large)
            return error_set(-EFBIG, "%s: answer larger than %zu bytes", request->url,
                             exchange->body_max);
        /* Once more only when nothing of an answer came (no bytes given away). */
        if (attempt == 0 && status == 0 && exchange->length == 0 && is_connection_failure(code))
            continue;
        return error_set(-EHOSTUNREACH, "%s: %s", request->url,
                         detail[0] != '\0' ? detail : curl_easy_strerror(code));
    }
}

/* Fetches a token for `scope` as the challenge says. */
static int fetch_token(struct upstream *upstream, const struct upstream_challenge *challenge,
                       const char *scope, char **token_out)
{
    if (challenge->realm[0] == '\0')
        return error_set(-EPROTO, "%s: Bearer challenge without a realm", upstream->settings->url);
    CURL *escaper = curl_easy_init();
    if (escaper == NULL)
        return error_set(-ENOMEM, "out of memory");
    char *service = curl_easy_escape(escaper, challenge->service, 0);
    char *scope_escaped = curl_easy_escape(escaper, scope, 0);
    curl_easy_cleanup(escaper);
    char url[URL_MAX];
    int written = -1;
    if (service != NULL && scope_escaped != NULL)
        written =
            snprintf(url, sizeof url, "%s%sservice=%s&scope=%s", challenge->realm,
                     strchr(challenge->realm, '?') != NULL ? "&" : "?", service, scope_escaped);
    curl_free(service);
    curl_free(scope_escaped);
    if (written < 0 || (size_t)written >= sizeof url)
        return error_set(-EPROTO, "token realm URL too long");
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return error_set(-EPROTO, "token realm is not an http(s) URL");
    struct exchange exchange = {.body_max = TOKEN_BODY_MAX};
    struct request request = {.method = "GET",
                              .url = url,
                              .basic = upstream->username != NULL,
                              .timeout_seconds = UPSTREAM_REQUEST_TIMEOUT_SECONDS};
    int result = perform(upstream, &request, &exchange);
    if (result == 0 && (exchange.status == 401 || exchange.status == 403))
        result = error_set(-EACCES, "token service %s refused the %s: %ld", challenge->realm,
                           upstream->username != NULL ? "credentials" : "anonymous request",
                           exchange.status);
    else if (result == 0 && exchange.status != 200)
        result =
            error_set(-EPROTO, "token service %s answered %ld", challenge->realm, exchange.status);
    uint64_t lifetime = 0;
    if (result == 0)
        result = upstream_parse_token_response(exchange.body != NULL ? exchange.body : "",
                                               exchange.length, token_out, &lifetime);
    free(exchange.body);
    if (result == 0)
        cache_token(upstream, scope, *token_out, lifetime);
    return result;
}

/* A request to the registry API with the authentication it asks for. */
static int authorized(struct upstream *upstream, const char *scope, struct request *request,
                      struct exchange *exchange)
{
    pthread_mutex_lock(&upstream->lock);
    enum auth_mode mode = upstream->mode;
    pthread_mutex_unlock(&upstream->lock);
    char *token = mode == AUTH_BEARER && scope != NULL ? cached_token(upstream, scope) : NULL;
    request->bearer = token;
    request->basic = mode == AUTH_BASIC;
    int result = perform(upstream, request, exchange);
    if (result == 0 && exchange->status == 401 && exchange->www_authenticate[0] != '\0') {
        struct upstream_challenge challenge;
        if (upstream_parse_challenge(exchange->www_authenticate, strlen(exchange->www_authenticate),
                                     &challenge) < 0)
            result = error_set(-EPROTO, "%s: unreadable WWW-Authenticate", request->url);
        else if (challenge.scheme == UPSTREAM_SCHEME_BASIC && upstream->username != NULL &&
                 !request->basic) {
            pthread_mutex_lock(&upstream->lock);
            upstream->mode = AUTH_BASIC;
            pthread_mutex_unlock(&upstream->lock);
            request->basic = 1;
            free(token);
            token = NULL;
            request->bearer = NULL;
            free(exchange->body);
            exchange->body = NULL;
            exchange->length = exchange->error_length = 0;
            result = perform(upstream, request, exchange);
        } else if (challenge.scheme == UPSTREAM_SCHEME_BEARER) {
            free(token);
            token = NULL;
            const char *wanted = scope != NULL ? scope : challenge.scope;
            result = fetch_token(upstream, &challenge, wanted, &token);
            if (result == 0) {
                request->bearer = token;
                request->basic = 0;
                free(exchange->body);
                exchange->body = NULL;
                exchange->length = exchange->error_length = 0;
                result = perform(upstream, request, exchange);
            }
        }
    }
    free(token);
    if (result == 0 && (exchange->status == 401 || exchange->status == 403))
        result = error_set(-EACCES, "%s: refused (%ld)%s", request->url, exchange->status,
                           upstream->username == NULL ? " to an anonymous client" : "");
    return result;
}

int upstream_ping(struct upstream *upstream)
{
    char url[URL_MAX];
    snprintf(url, sizeof url, "%s/v2/", upstream->settings->url);
    struct exchange exchange = {.body_max = TOKEN_BODY_MAX};
    struct request request = {
        .method = "GET", .url = url, .timeout_seconds = UPSTREAM_REQUEST_TIMEOUT_SECONDS};
    int result = authorized(upstream, NULL, &request, &exchange);
    free(exchange.body);
    if (result == 0 && exchange.status != 200)
        result = error_set(-EPROTO, "%s answered %ld", url, exchange.status);
    return result;
}

void upstream_manifest_release(struct upstream_manifest *manifest)
{
    free(manifest->body);
    manifest->body = NULL;
}

static int scope_of(const char *remote_name, char *out, size_t size)
{
    int written = snprintf(out, size, "repository:%s:pull", remote_name);
    if (written < 0 || (size_t)written >= size)
        return error_set(-ENAMETOOLONG, "repository name too long");
    return 0;
}

static int status_result(const char *url, long status, const struct exchange *exchange)
{
    if (status == 404)
        return error_set(-ENOENT, "%s: not found upstream", url);
    return error_set(-EPROTO, "%s answered %ld %.200s", url, status, exchange->error_body);
}

int upstream_fetch_manifest(struct upstream *upstream, const char *remote_name,
                            const char *reference, int head, struct upstream_manifest *out)
{
    memset(out, 0, sizeof *out);
    char url[URL_MAX], scope[UPSTREAM_NAME_MAX + 32];
    int result = scope_of(remote_name, scope, sizeof scope);
    if (result < 0)
        return result;
    int written = snprintf(url, sizeof url, "%s/v2/%s/manifests/%s", upstream->settings->url,
                           remote_name, reference);
    if (written < 0 || (size_t)written >= sizeof url)
        return error_set(-ENAMETOOLONG, "manifest URL too long");
    struct exchange exchange = {.body_max = MANIFEST_SIZE_MAX};
    struct request request = {.method = head ? "HEAD" : "GET",
                              .url = url,
                              .accept = ACCEPT_MANIFESTS,
                              .timeout_seconds = UPSTREAM_REQUEST_TIMEOUT_SECONDS};
    result = authorized(upstream, scope, &request, &exchange);
    if (result == 0 && exchange.status != 200)
        result = status_result(url, exchange.status, &exchange);
    if (result < 0) {
        free(exchange.body);
        return result;
    }
    out->body = exchange.body;
    out->length = exchange.length;
    if (!head && out->body == NULL && (out->body = strdup("")) == NULL)
        return error_set(-ENOMEM, "out of memory");
    /* "type; charset=..." keeps only the type. */
    exchange.content_type[strcspn(exchange.content_type, "; ")] = '\0';
    snprintf(out->media_type, sizeof out->media_type, "%s", exchange.content_type);
    if (exchange.digest[0] != '\0' &&
        digest_parse(exchange.digest, strlen(exchange.digest), &out->digest) == 0)
        out->has_digest = 1;
    return 0;
}

int upstream_head_blob(struct upstream *upstream, const char *remote_name,
                       const struct digest *digest, int64_t *size_out)
{
    char url[URL_MAX], scope[UPSTREAM_NAME_MAX + 32];
    int result = scope_of(remote_name, scope, sizeof scope);
    if (result < 0)
        return result;
    int written = snprintf(url, sizeof url, "%s/v2/%s/blobs/%s", upstream->settings->url,
                           remote_name, digest->string);
    if (written < 0 || (size_t)written >= sizeof url)
        return error_set(-ENAMETOOLONG, "blob URL too long");
    struct exchange exchange = {.body_max = 0};
    struct request request = {
        .method = "HEAD", .url = url, .timeout_seconds = UPSTREAM_REQUEST_TIMEOUT_SECONDS};
    result = authorized(upstream, scope, &request, &exchange);
    if (result == 0 && exchange.status != 200)
        result = status_result(url, exchange.status, &exchange);
    *size_out = exchange.content_length;
    return result;
}

/* A failure in the middle of an answer's bytes, which a Range request may
 * continue. */
static int is_cut(CURLcode code)
{
    return code == CURLE_PARTIAL_FILE || code == CURLE_RECV_ERROR ||
           code == CURLE_OPERATION_TIMEDOUT || code == CURLE_GOT_NOTHING ||
           code == CURLE_HTTP2_STREAM || code == CURLE_HTTP2 || code == CURLE_SEND_ERROR;
}

int upstream_fetch_blob(struct upstream *upstream, const char *remote_name,
                        const struct digest *digest, const struct upstream_blob_sink *sink)
{
    char url[URL_MAX], scope[UPSTREAM_NAME_MAX + 32];
    int result = scope_of(remote_name, scope, sizeof scope);
    if (result < 0)
        return result;
    int written = snprintf(url, sizeof url, "%s/v2/%s/blobs/%s", upstream->settings->url,
                           remote_name, digest->string);
    if (written < 0 || (size_t)written >= sizeof url)
        return error_set(-ENAMETOOLONG, "blob URL too long");
    struct blob_transfer transfer = {.sink = sink, .size = -1};
    for (unsigned resumes = 0;; resumes++) {
        char range[64];
        struct exchange exchange = {.blob = &transfer};
        struct request request = {.method = "GET", .url = url};
        transfer.asked = transfer.received;
        transfer.begun = 0;
        if (transfer.asked > 0) {
            snprintf(range, sizeof range, "Range: bytes=%lld-", (long long)transfer.asked);
            request.range = range;
        }
        result = authorized(upstream, scope, &request, &exchange);
        if (result == 0 && exchange.status != 200 && exchange.status != 206)
            return status_result(url, exchange.status, &exchange);
        if (result == 0 && !transfer.begun) {
            /* An empty answer: no byte called blob_begin. */
            if ((result = blob_begin(&exchange)) != 0)
                return result;
        }
        if (result == 0 && transfer.size >= 0 && transfer.received != transfer.size)
            result = error_set(-EHOSTUNREACH, "%s: %lld of %lld bytes", url,
                               (long long)transfer.received, (long long)transfer.size);
        else if (result == 0 || (transfer.size >= 0 && transfer.received == transfer.size &&
                                 exchange.sink_result == 0))
            return 0; /* every byte came (a failure after the last one does not matter) */
        /* Resumed: a cut in the middle of a blob answer's bytes. */
        int cut = exchange.sink_result == 0 &&
                  (is_cut(exchange.curl_code) ||
                   (exchange.curl_code == CURLE_OK && exchange.status == 206)) &&
                  (exchange.status == 200 || exchange.status == 206);
        if (!cut)
            return result;
        if (resumes >= UPSTREAM_BLOB_RESUMES_MAX) {
            char reason[ERROR_MESSAGE_MAX];
            snprintf(reason, sizeof reason, "%s", error_message());
            return error_set(result, "%s (after %u resumed requests)", reason, resumes);
        }
    }
}
