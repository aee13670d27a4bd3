/* drivers/s3_sign.h */
#include "drivers/s3_sign.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "layout/error.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define SERVICE "s3"
#define TERMINATOR "aws4_request"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SHA256_SIZE 32
/* Longest access key accepted (it is copied into the credential). */
#define ACCESS_KEY_MAX 256
/* "YYYYMMDD/<region>/s3/aws4_request" */
#define SCOPE_SIZE (8 + 1 + S3_REGION_MAX + 1 + sizeof SERVICE - 1 + 1 + sizeof TERMINATOR)

/* Where text goes: a caller's buffer (NUL-terminated at the end, too long
 * text counted but not written) or a running SHA-256. */
struct sink {
    char *buffer;
    size_t size;
    size_t length;    /* every byte appended, also those that did not fit */
    EVP_MD_CTX *hash; /* non-NULL: bytes are hashed instead of written */
    int hash_failed;
};

static struct sink sink_for_buffer(char *buffer, size_t size)
{
    if (buffer != NULL && size > 0)
        buffer[0] = '\0';
    return (struct sink){.buffer = buffer, .size = buffer == NULL ? 0 : size};
}

static void sink_append(struct sink *sink, const char *text, size_t length)
{
    if (sink->hash != NULL) {
        if (length > 0 && EVP_DigestUpdate(sink->hash, text, length) != 1)
            sink->hash_failed = 1;
    } else if (sink->length + length < sink->size) {
        /* Room is kept for the NUL. Once a piece did not fit, no later one
         * does: length only grows. */
        memcpy(sink->buffer + sink->length, text, length);
    }
    sink->length += length;
}

static void sink_append_string(struct sink *sink, const char *text)
{
    sink_append(sink, text, strlen(text));
}

/* Terminates a buffer sink: 0, or -ENAMETOOLONG (and "") when the text did
 * not fit. `what` names the text for the message. */
static int sink_finish(struct sink *sink, const char *what)
{
    if (sink->length < sink->size) {
        sink->buffer[sink->length] = '\0';
        return 0;
    }
    if (sink->size > 0)
        sink->buffer[0] = '\0';
    return error_set(-ENAMETOOLONG, "%s needs %zu bytes, the buffer has %zu", what,
                     sink->length + 1, sink->size);
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static const char uppercase_hex[] = "0123456789ABCDEF";

/* The AWS encoding of one byte: 1 or 3 characters in `encoded`. */
static size_t encode_byte(unsigned char c, int encode_slash, char encoded[3])
{
    if (is_unreserved(c) || (c == '/' && !encode_slash)) {
        encoded[0] = (char)c;
        return 1;
    }
    encoded[0] = '%';
    encoded[1] = uppercase_hex[c >> 4];
    encoded[2] = uppercase_hex[c & 0xF];
    return 3;
}

static void sink_append_encoded(struct sink *sink, const char *text, size_t length,
                                int encode_slash)
{
    size_t run_start = 0; /* bytes kept as they are go in one piece */
    for (size_t i = 0; i < length; i++) {
        char encoded[3];
        if (encode_byte((unsigned char)text[i], encode_slash, encoded) == 1)
            continue;
        sink_append(sink, text + run_start, i - run_start);
        sink_append(sink, encoded, 3);
        run_start = i + 1;
    }
    sink_append(sink, text + run_start, length - run_start);
}

int s3_uri_encode(const char *text, size_t length, int encode_slash, char *out, size_t out_size)
{
    struct sink sink = sink_for_buffer(out, out_size);
    if (text == NULL)
        return error_set(-EINVAL, "S3 URI encoding: no text");
    sink_append_encoded(&sink, text, length, encode_slash);
    return sink_finish(&sink, "S3 URI encoding");
}

/* Reads a string's AWS encoding one character at a time, so that parameters
 * can be compared in encoded order without encoding them anywhere. (Raw and
 * encoded orders differ: "z" < "{" but "%7B" < "z".) */
struct encoded_reader {
    const char *text;
    int encode_slash;
    char pending[3];
    size_t pending_length, pending_position;
};

/* The next character, or -1 at the end. */
static int encoded_reader_next(struct encoded_reader *reader)
{
    if (reader->pending_position == reader->pending_length) {
        if (*reader->text == '\0')
            return -1;
        reader->pending_length =
            encode_byte((unsigned char)*reader->text++, reader->encode_slash, reader->pending);
        reader->pending_position = 0;
    }
    return (unsigned char)reader->pending[reader->pending_position++];
}

static int encoded_compare(const char *a, const char *b)
{
    struct encoded_reader reader_a = {.text = a, .encode_slash = 1};
    struct encoded_reader reader_b = {.text = b, .encode_slash = 1};
    for (;;) {
        int character_a = encoded_reader_next(&reader_a);
        int character_b = encoded_reader_next(&reader_b);
        if (character_a != character_b)
            return character_a < character_b ? -1 : 1;
        if (character_a < 0)
            return 0;
    }
}

static const char *parameter_value(const struct s3_query_parameter *parameter)
{
    return parameter->value == NULL ? "" : parameter->value;
}

/* A total order: encoded name, encoded value, then position (equal
 * parameters keep their order). */
static int parameter_compare(const struct s3_query_parameter *parameters, size_t a, size_t b)
{
    int result = encoded_compare(parameters[a].name, parameters[b].name);
    if (result == 0)
        result = encoded_compare(parameter_value(&parameters[a]), parameter_value(&parameters[b]));
    if (result == 0)
        result = (a > b) - (a < b);
    return result;
}

/* Names must have been checked (non-NULL). A selection sort: each round
 * writes the smallest parameter after the previous one. */
static void sink_append_canonical_query(struct sink *sink,
                                        const struct s3_query_parameter *parameters, size_t count)
{
    size_t previous = SIZE_MAX;
    for (size_t round = 0; round < count; round++) {
        size_t smallest = SIZE_MAX;
        for (size_t i = 0; i < count; i++) {
            if (previous != SIZE_MAX && parameter_compare(parameters, i, previous) <= 0)
                continue;
            if (smallest == SIZE_MAX || parameter_compare(parameters, i, smallest) < 0)
                smallest = i;
        }
        if (round > 0)
            sink_append(sink, "&", 1);
        const char *name = parameters[smallest].name;
        const char *value = parameter_value(&parameters[smallest]);
        sink_append_encoded(sink, name, strlen(name), 1);
        sink_append(sink, "=", 1);
        sink_append_encoded(sink, value, strlen(value), 1);
        previous = smallest;
    }
}

int s3_canonical_query(const struct s3_query_parameter *parameters, size_t count, char *out,
                       size_t out_size)
{
    struct sink sink = sink_for_buffer(out, out_size);
    if (count > 0 && parameters == NULL)
        return error_set(-EINVAL, "S3 canonical query: no parameters");
    for (size_t i = 0; i < count; i++) {
        if (parameters[i].name == NULL)
            return error_set(-EINVAL, "S3 canonical query: parameter %zu has no name", i + 1);
    }
    sink_append_canonical_query(&sink, parameters, count);
    return sink_finish(&sink, "S3 canonical query");
}

static void hex_lowercase(const unsigned char *bytes, size_t length, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < length; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0xF];
    }
    out[2 * length] = '\0';
}

static int hmac_sha256(const void *key, size_t key_length, const void *data, size_t data_length,
                       unsigned char out[SHA256_SIZE])
{
    unsigned int out_length = 0;
    if (HMAC(EVP_sha256(), key, (int)key_length, data, data_length, out, &out_length) == NULL ||
        out_length != SHA256_SIZE)
        return error_set(-EIO, "S3 signature: HMAC-SHA256 failed");
    return 0;
}

static int check_region(const char *region)
{
    if (region == NULL || region[0] == '\0')
        return error_set(-EINVAL, "S3 signature: no region");
    size_t length = strlen(region);
    if (length > S3_REGION_MAX)
        return error_set(-EINVAL, "S3 signature: region longer than %d bytes", S3_REGION_MAX);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)region[i];
        if (c <= ' ' || c >= 0x7F || c == '/')
            return error_set(-EINVAL, "S3 signature: the region holds a space, a control or "
                                      "non-ASCII byte, or a '/'");
    }
    return 0;
}

static int check_secret_key(const char *secret_key)
{
    if (secret_key == NULL || secret_key[0] == '\0')
        return error_set(-EINVAL, "S3 signature: no secret key");
    if (strlen(secret_key) > S3_SECRET_KEY_MAX)
        return error_set(-EINVAL, "S3 signature: secret key longer than %d bytes",
                         S3_SECRET_KEY_MAX);
    return 0;
}

/* After check_secret_key and check_region; date is 8 digits. */
static int derive_signing_key(const char *secret_key, const char *date, const char *region,
                              unsigned char key[S3_SIGNING_KEY_SIZE])
{
    char first_key[4 + S3_SECRET_KEY_MAX];
    size_t secret_length = strlen(secret_key);
    memcpy(first_key, "AWS4", 4);
    memcpy(first_key + 4, secret_key, secret_length);
    unsigned char date_key[SHA256_SIZE], region_key[SHA256_SIZE], service_key[SHA256_SIZE];
    int result = hmac_sha256(first_key, 4 + secret_length, date, strlen(date), date_key);
    if (result == 0)
        result = hmac_sha256(date_key, sizeof date_key, region, strlen(region), region_key);
    if (result == 0)
        result = hmac_sha256(region_key, sizeof region_key, SERVICE, strlen(SERVICE), service_key);
    if (result == 0)
        result = hmac_sha256(service_key, sizeof service_key, TERMINATOR, strlen(TERMINATOR), key);
    OPENSSL_cleanse(first_key, sizeof first_key);
    OPENSSL_cleanse(date_key, sizeof date_key);
    OPENSSL_cleanse(region_key, sizeof region_key);
    OPENSSL_cleanse(service_key, sizeof service_key);
    if (result < 0)
        OPENSSL_cleanse(key, S3_SIGNING_KEY_SIZE);
    return result;
}

int s3_signing_key(const char *secret_key, const char *date, const char *region,
                   unsigned char key[S3_SIGNING_KEY_SIZE])
{
    int result = check_secret_key(secret_key);
    if (result < 0)
        return result;
    if ((result = check_region(region)) < 0)
        return result;
    if (date == NULL || strlen(date) != 8 || strspn(date, "0123456789") != 8)
        return error_set(-EINVAL, "S3 signature: the date must be YYYYMMDD");
    return derive_signing_key(secret_key, date, region, key);
}

/* What every piece of a presigned request derives from the request. */
struct presign_parts {
    char date_time[17]; /* 20130524T000000Z */
    char date[9];       /* 20130524 */
    char scope[SCOPE_SIZE];
    char credential[ACCESS_KEY_MAX + 1 + SCOPE_SIZE];
    char expires[24];
};

static int check_text(const char *text, const char *what)
{
    if (text == NULL || text[0] == '\0')
        return error_set(-EINVAL, "S3 presigned URL: no %s", what);
    return 0;
}

static int check_request(const struct s3_presign_request *request)
{
    int result;
    if (request == NULL)
        return error_set(-EINVAL, "S3 presigned URL: no request");
    if ((result = check_text(request->method, "method")) < 0 ||
        (result = check_text(request->scheme, "scheme")) < 0 ||
        (result = check_text(request->host, "host")) < 0 ||
        (result = check_text(request->path, "path")) < 0 ||
        (result = check_text(request->access_key, "access key")) < 0 ||
        (result = check_secret_key(request->secret_key)) < 0 ||
        (result = check_region(request->region)) < 0)
        return result;
    if (strspn(request->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(request->method))
        return error_set(-EINVAL, "S3 presigned URL: method \"%.32s\" is not uppercase letters",
                         request->method);
    if (strcmp(request->scheme, "http") != 0 && strcmp(request->scheme, "https") != 0)
        return error_set(-EINVAL, "S3 presigned URL: scheme \"%.32s\" is neither http nor https",
                         request->scheme);
    for (const char *c = request->host; *c != '\0'; c++) {
        unsigned char byte = (unsigned char)*c;
        if (byte <= ' ' || byte >= 0x7F || strchr("/?#@\\", byte) != NULL)
            return error_set(-EINVAL,
                             "S3 presigned URL: host \"%.256s\" holds a space, a control "
                             "or non-ASCII byte, or one of / ? # @ \\",
                             request->host);
    }
    if (request->path[0] != '/')
        return error_set(-EINVAL, "S3 presigned URL: path \"%.256s\" does not start with '/'",
                         request->path);
    if (strlen(request->access_key) > ACCESS_KEY_MAX)
        return error_set(-EINVAL, "S3 presigned URL: access key longer than %d bytes",
                         ACCESS_KEY_MAX);
    if (strchr(request->access_key, '/') != NULL)
        return error_set(-EINVAL, "S3 presigned URL: the access key holds a '/'");
    if (request->expires_seconds < 1 || request->expires_seconds > S3_PRESIGN_EXPIRES_MAX)
        return error_set(-EINVAL, "S3 presigned URL: expiry of %ld seconds is outside 1 to %ld",
                         request->expires_seconds, S3_PRESIGN_EXPIRES_MAX);
    return 0;
}

/* `value` (0 <= value < 10^count) as `count` decimal digits, no NUL. */
static void write_digits(char *out, int value, int count)
{
    for (int i = count - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

static int presign_parts_make(const struct s3_presign_request *request, struct presign_parts *parts)
{
    int result = check_request(request);
    if (result < 0)
        return result;
    struct tm calendar;
    if (gmtime_r(&request->now, &calendar) == NULL || calendar.tm_year < -1900 ||
        calendar.tm_year > 9999 - 1900)
        return error_set(-EINVAL, "S3 presigned URL: signing time %lld is outside years 0 to 9999",
                         (long long)request->now);
    /* 20130524T000000Z; every field is in range (gmtime_r, the year checked). */
    write_digits(parts->date_time, calendar.tm_year + 1900, 4);
    write_digits(parts->date_time + 4, calendar.tm_mon + 1, 2);
    write_digits(parts->date_time + 6, calendar.tm_mday, 2);
    parts->date_time[8] = 'T';
    write_digits(parts->date_time + 9, calendar.tm_hour, 2);
    write_digits(parts->date_time + 11, calendar.tm_min, 2);
    write_digits(parts->date_time + 13, calendar.tm_sec, 2);
    memcpy(parts->date_time + 15, "Z", 2);
    memcpy(parts->date, parts->date_time, 8);
    parts->date[8] = '\0';
    /* Both fit: the region and access key lengths were checked. */
    snprintf(parts->scope, sizeof parts->scope, "%s/%s/" SERVICE "/" TERMINATOR, parts->date,
             request->region);
    snprintf(parts->credential, sizeof parts->credential, "%s/%s", request->access_key,
             parts->scope);
    snprintf(parts->expires, sizeof parts->expires, "%ld", request->expires_seconds);
    return 0;
}

/* The signed query parameters, sorted by the canonical query writer. */
static void sink_append_presign_query(struct sink *sink, const struct presign_parts *parts)
{
    const struct s3_query_parameter parameters[] = {
        {"X-Amz-Algorithm", ALGORITHM},   {"X-Amz-Credential", parts->credential},
        {"X-Amz-Date", parts->date_time}, {"X-Amz-Expires", parts->expires},
        {"X-Amz-SignedHeaders", "host"},
    };
    sink_append_canonical_query(sink, parameters, sizeof parameters / sizeof parameters[0]);
}

static void sink_append_canonical_request(struct sink *sink,
                                          const struct s3_presign_request *request,
                                          const struct presign_parts *parts)
{
    sink_append_string(sink, request->method);
    sink_append(sink, "\n", 1);
    sink_append_encoded(sink, request->path, strlen(request->path), 0);
    sink_append(sink, "\n", 1);
    sink_append_presign_query(sink, parts);
    sink_append_string(sink, "\nhost:");
    sink_append_string(sink, request->host);
    sink_append_string(sink, "\n\nhost\n" UNSIGNED_PAYLOAD);
}

static int canonical_request_hash(const struct s3_presign_request *request,
                                  const struct presign_parts *parts, char hex[2 * SHA256_SIZE + 1])
{
    struct sink sink = {.hash = EVP_MD_CTX_new()};
    if (sink.hash == NULL)
        return error_set(-ENOMEM, "S3 signature: cannot allocate a hash context");
    unsigned char hash[SHA256_SIZE];
    unsigned int hash_length = 0;
    int ok = EVP_DigestInit_ex(sink.hash, EVP_sha256(), NULL) == 1;
    if (ok) {
        sink_append_canonical_request(&sink, request, parts);
        ok = !sink.hash_failed && EVP_DigestFinal_ex(sink.hash, hash, &hash_length) == 1 &&
             hash_length == SHA256_SIZE;
    }
    EVP_MD_CTX_free(sink.hash);
    if (!ok)
        return error_set(-EIO, "S3 signature: SHA-256 of the canonical request failed");
    hex_lowercase(hash, sizeof hash, hex);
    return 0;
}

static int sink_append_string_to_sign(struct sink *sink, const struct s3_presign_request *request,
                                      const struct presign_parts *parts)
{
    char canonical_hash[2 * SHA256_SIZE + 1];
    int result = canonical_request_hash(request, parts, canonical_hash);
    if (result < 0)
        return result;
    sink_append_string(sink, ALGORITHM "\n");
    sink_append_string(sink, parts->date_time);
    sink_append(sink, "\n", 1);
    sink_append_string(sink, parts->scope);
    sink_append(sink, "\n", 1);
    sink_append_string(sink, canonical_hash);
    return 0;
}

static int presign_signature(const struct s3_presign_request *request,
                             const struct presign_parts *parts,
                             char signature[S3_SIGNATURE_HEX_LENGTH + 1])
{
    char string_to_sign[sizeof ALGORITHM + sizeof parts->date_time + sizeof parts->scope +
                        2 * SHA256_SIZE + 1];
    struct sink sink = sink_for_buffer(string_to_sign, sizeof string_to_sign);
    int result = sink_append_string_to_sign(&sink, request, parts);
    if (result == 0)
        result = sink_finish(&sink, "S3 string to sign");
    if (result < 0)
        return result;
    unsigned char key[S3_SIGNING_KEY_SIZE], mac[SHA256_SIZE];
    result = derive_signing_key(request->secret_key, parts->date, request->region, key);
    if (result == 0)
        result = hmac_sha256(key, sizeof key, string_to_sign, sink.length, mac);
    OPENSSL_cleanse(key, sizeof key);
    if (result < 0)
        return result;
    hex_lowercase(mac, sizeof mac, signature);
    return 0;
}

int s3_presign_canonical_request(const struct s3_presign_request *request, char *out,
                                 size_t out_size)
{
    struct sink sink = sink_for_buffer(out, out_size);
    struct presign_parts parts;
    int result = presign_parts_make(request, &parts);
    if (result < 0)
        return result;
    sink_append_canonical_request(&sink, request, &parts);
    return sink_finish(&sink, "S3 canonical request");
}

int s3_presign_string_to_sign(const struct s3_presign_request *request, char *out, size_t out_size)
{
    struct sink sink = sink_for_buffer(out, out_size);
    struct presign_parts parts;
    int result = presign_parts_make(request, &parts);
    if (result == 0)
        result = sink_append_string_to_sign(&sink, request, &parts);
    if (result < 0)
        return result;
    return sink_finish(&sink, "S3 string to sign");
}

int s3_presign_signature(const struct s3_presign_request *request,
                         char signature[S3_SIGNATURE_HEX_LENGTH + 1])
{
    if (signature == NULL)
        return error_set(-EINVAL, "S3 signature: no output");
    signature[0] = '\0';
    struct presign_parts parts;
    int result = presign_parts_make(request, &parts);
    if (result < 0)
        return result;
    return presign_signature(request, &parts, signature);
}

int s3_presign_url(const struct s3_presign_request *request, char *url, size_t url_size)
{
    struct sink sink = sink_for_buffer(url, url_size);
    struct presign_parts parts;
    char signature[S3_SIGNATURE_HEX_LENGTH + 1];
    int result = presign_parts_make(request, &parts);
    if (result == 0)
        result = presign_signature(request, &parts, signature);
    if (result < 0)
        return result;
    sink_append_string(&sink, request->scheme);
    sink_append_string(&sink, "://");
    sink_append_string(&sink, request->host);
    sink_append_encoded(&sink, request->path, strlen(request->path), 0);
    sink_append(&sink, "?", 1);
    sink_append_presign_query(&sink, &parts);
    sink_append_string(&sink, "&X-Amz-Signature=");
    sink_append_string(&sink, signature);
    return sink_finish(&sink, "S3 presigned URL");
}
