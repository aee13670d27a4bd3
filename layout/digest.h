/*
 * layout/digest.h — content digests: parsing, validation and hashing.
 *
 * A `struct digest` always holds a valid digest: the only ways to fill one are
 * digest_parse() (which validates) and digest_hasher_finish(). Supported
 * algorithms are sha256 (64 lowercase hex characters) and sha512 (128). The
 * canonical string form is "<algorithm>:<hex>", which is also the exact content
 * of a link file.
 *
 *     struct digest digest;
 *     if (digest_parse(text, length, &digest) < 0)
 *         return DIGEST_INVALID;         // error_message() says why
 *     puts(digest.string);               // "sha256:e3b0c4..."
 *     puts(digest_hex(&digest));         // "e3b0c4..."
 *
 * Hashing a stream: digest_hasher_init(), any number of _update() calls,
 * then _finish() (which releases the hasher). _copy() forks a running state,
 * which lets a server keep one hasher per upload and still check a digest.
 */
#ifndef CAIRN_LAYOUT_DIGEST_H
#define CAIRN_LAYOUT_DIGEST_H

#include <stddef.h>
#include <stdint.h>

enum digest_algorithm {
    DIGEST_SHA256,
    DIGEST_SHA512,
};

/* "sha512:" + 128 hex + NUL */
#define DIGEST_STRING_MAX 136

struct digest {
    enum digest_algorithm algorithm;
    size_t string_length;
    char string[DIGEST_STRING_MAX];
};

/* Parses "<alg>:<hex>" (not NUL-terminated: `length` bytes). Rejects unknown
 * algorithms, uppercase hex, wrong lengths, NUL bytes. -EINVAL on failure. */
int digest_parse(const char *text, size_t length, struct digest *out);

/* The hex part of the digest (points into digest->string). */
const char *digest_hex(const struct digest *digest);

/* "sha256" or "sha512". */
const char *digest_algorithm_name(enum digest_algorithm algorithm);

/* Parses an algorithm name ("sha256", "sha512"); -EINVAL for anything else. */
int digest_algorithm_parse(const char *name, size_t length, enum digest_algorithm *out);

int digest_equal(const struct digest *a, const struct digest *b);

struct digest_hasher {
    void *context; /* EVP_MD_CTX */
    enum digest_algorithm algorithm;
};

int digest_hasher_init(struct digest_hasher *hasher, enum digest_algorithm algorithm);
int digest_hasher_update(struct digest_hasher *hasher, const void *data, size_t length);
/* Initialises `copy` with the state of `hasher`. */
int digest_hasher_copy(struct digest_hasher *copy, const struct digest_hasher *hasher);
/* Writes the digest and releases the hasher. */
int digest_hasher_finish(struct digest_hasher *hasher, struct digest *out);
/* Releases a hasher that will not be finished (safe on a zeroed hasher). */
void digest_hasher_release(struct digest_hasher *hasher);

/* Hashes `length` bytes of memory. */
int digest_of_buffer(enum digest_algorithm algorithm, const void *data, size_t length,
                     struct digest *out);

/* Feeds the first `length` bytes of the open file `fd` (read with pread from
 * offset 0) into `hasher`. -EIO if the file is shorter. */
int digest_hasher_update_from_file(struct digest_hasher *hasher, int fd, int64_t length);

#endif
