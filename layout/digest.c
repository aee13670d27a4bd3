/* layout/digest.h */
#include "layout/digest.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "layout/error.h"

static const struct {
    const char *name;
    size_t name_length;
    size_t hex_length;
} algorithms[] = {
    [DIGEST_SHA256] = {"sha256", 6, 64},
    [DIGEST_SHA512] = {"sha512", 6, 128},
};

static const EVP_MD *algorithm_md(enum digest_algorithm algorithm)
{
    return algorithm == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

int digest_algorithm_parse(const char *name, size_t length, enum digest_algorithm *out)
{
    for (size_t i = 0; i < sizeof algorithms / sizeof algorithms[0]; i++) {
        if (length == algorithms[i].name_length && memcmp(name, algorithms[i].name, length) == 0) {
            *out = (enum digest_algorithm)i;
            return 0;
        }
    }
    return error_set(-EINVAL, "unsupported digest algorithm \"%.*s\"",
                     (int)(length > 32 ? 32 : length), name);
}

const char *digest_algorithm_name(enum digest_algorithm algorithm)
{
    return algorithms[algorithm == DIGEST_SHA512 ? DIGEST_SHA512 : DIGEST_SHA256].name;
}

int digest_parse(const char *text, size_t length, struct digest *out)
{
    if (text == NULL)
        return error_set(-EINVAL, "invalid digest: missing");
    const char *colon = memchr(text, ':', length);
    if (colon == NULL)
        return error_set(-EINVAL, "invalid digest: no \"<algorithm>:\" prefix");
    enum digest_algorithm algorithm = DIGEST_SHA256; /* always set by the parse */
    size_t name_length = (size_t)(colon - text);
    if (digest_algorithm_parse(text, name_length, &algorithm) < 0)
        return -EINVAL;
    size_t hex_length = length - name_length - 1;
    if (hex_length != algorithms[algorithm].hex_length)
        return error_set(-EINVAL, "invalid digest: %s needs %zu hex characters, not %zu",
                         algorithms[algorithm].name, algorithms[algorithm].hex_length, hex_length);
    for (size_t i = 0; i < hex_length; i++) {
        char c = colon[1 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return error_set(-EINVAL, "invalid digest: character %zu is not lowercase hex",
                             name_length + 1 + i);
    }
    out->algorithm = algorithm;
    out->string_length = length;
    memcpy(out->string, text, length);
    out->string[length] = '\0';
    return 0;
}

const char *digest_hex(const struct digest *digest)
{
    return digest->string + algorithms[digest->algorithm].name_length + 1;
}

int digest_equal(const struct digest *a, const struct digest *b)
{
    return a->string_length == b->string_length &&
           memcmp(a->string, b->string, a->string_length) == 0;
}

int digest_hasher_init(struct digest_hasher *hasher, enum digest_algorithm algorithm)
{
    hasher->algorithm = algorithm;
    hasher->context = EVP_MD_CTX_new();
    if (hasher->context == NULL)
        return error_set(-ENOMEM, "cannot allocate a hash context");
    if (EVP_DigestInit_ex(hasher->context, algorithm_md(algorithm), NULL) != 1) {
        digest_hasher_release(hasher);
        return error_set(-EIO, "cannot start a %s hash", digest_algorithm_name(algorithm));
    }
    return 0;
}

int digest_hasher_update(struct digest_hasher *hasher, const void *data, size_t length)
{
    if (EVP_DigestUpdate(hasher->context, data, length) != 1)
        return error_set(-EIO, "hash update failed");
    return 0;
}

int digest_hasher_copy(struct digest_hasher *copy, const struct digest_hasher *hasher)
{
    copy->algorithm = hasher->algorithm;
    copy->context = EVP_MD_CTX_new();
    if (copy->context == NULL)
        return error_set(-ENOMEM, "cannot allocate a hash context");
    if (EVP_MD_CTX_copy_ex(copy->context, hasher->context) != 1) {
        digest_hasher_release(copy);
        return error_set(-EIO, "cannot copy a hash state");
    }
    return 0;
}

int digest_hasher_finish(struct digest_hasher *hasher, struct digest *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int raw_length = 0;
    int ok = EVP_DigestFinal_ex(hasher->context, raw, &raw_length) == 1;
    enum digest_algorithm algorithm = hasher->algorithm;
    digest_hasher_release(hasher);
    if (!ok || raw_length * 2 != algorithms[algorithm].hex_length)
        return error_set(-EIO, "hash finish failed");
    char *cursor = out->string;
    memcpy(cursor, algorithms[algorithm].name, algorithms[algorithm].name_length);
    cursor += algorithms[algorithm].name_length;
    *cursor++ = ':';
    for (unsigned int i = 0; i < raw_length; i++) {
        *cursor++ = hex[raw[i] >> 4];
        *cursor++ = hex[raw[i] & 15];
    }
    *cursor = '\0';
    out->algorithm = algorithm;
    out->string_length = (size_t)(cursor - out->string);
    return 0;
}

void digest_hasher_release(struct digest_hasher *hasher)
{
    EVP_MD_CTX_free(hasher->context);
    hasher->context = NULL;
}

int digest_of_buffer(enum digest_algorithm algorithm, const void *data, size_t length,
                     struct digest *out)
{
    struct digest_hasher hasher;
    int result = digest_hasher_init(&hasher, algorithm);
    if (result < 0)
        return result;
    result = digest_hasher_update(&hasher, data, length);
    if (result < 0) {
        digest_hasher_release(&hasher);
        return result;
    }
    return digest_hasher_finish(&hasher, out);
}

int digest_hasher_update_from_file(struct digest_hasher *hasher, int fd, int64_t length)
{
    unsigned char buffer[32 * 1024];
    if (length < 0)
        return error_set(-EINVAL, "negative length %lld", (long long)length);
    for (int64_t offset = 0; offset < length;) {
        int64_t left = length - offset;
        size_t chunk = left < (int64_t)sizeof buffer ? (size_t)left : sizeof buffer;
        ssize_t n = pread(fd, buffer, chunk, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(-errno, "cannot read file to hash: %s", strerror(errno));
        if (n == 0)
            return error_set(-EIO, "file is shorter (%lld bytes) than expected (%lld)",
                             (long long)offset, (long long)length);
        int result = digest_hasher_update(hasher, buffer, (size_t)n);
        if (result < 0)
            return result;
        offset += n;
    }
    return 0;
}
