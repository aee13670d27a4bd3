/* src/auth/token.h */
#include "src/auth/token.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "layout/error.h"

#define X5C_CHAIN_MAX 8
#define RSA_BITS_MIN 2048
#define P256_COORDINATE 32
/* NumericDates beyond this are refused rather than risk overflow. */
#define NUMERIC_DATE_MAX 253402300799.0 /* 9999-12-31T23:59:59Z */

enum algorithm {
    ALGORITHM_NONE = 0, /* unusable key, or "any" as a constraint */
    ALGORITHM_RS256,
    ALGORITHM_ES256,
};

struct trusted_key {
    char *kid;
    EVP_PKEY *key;
    enum algorithm algorithm; /* what the key can verify */
};

struct token_verifier {
    char *issuer;
    char *service;
    X509_STORE *roots; /* NULL without a root bundle */
    size_t root_count;
    struct trusted_key *keys;
    size_t key_count;
};

/* ---- base64 ------------------------------------------------------------ */

static int sextet_of(char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Strict decoding into a malloc'd buffer: base64url without padding (url) or
 * standard base64 with mandatory padding; no whitespace, no stray bits.
 * Returns the decoded length, or -EINVAL / -ENOMEM (no message). */
static long base64_decode(const char *text, size_t length, int url, unsigned char **out)
{
    *out = NULL;
    size_t data_length = length;
    if (!url) {
        if (length == 0 || length % 4 != 0)
            return -EINVAL;
        if (text[length - 1] == '=')
            data_length--;
        if (text[length - 2] == '=')
            data_length--;
    }
    if (data_length == 0 || data_length % 4 == 1)
        return -EINVAL;
    size_t decoded_length = data_length / 4 * 3 + (data_length % 4 == 0 ? 0 : data_length % 4 - 1);
    unsigned char *decoded = malloc(decoded_length + 1);
    if (decoded == NULL)
        return -ENOMEM;
    size_t written = 0;
    uint32_t accumulator = 0;
    int bits = 0;
    for (size_t i = 0; i < data_length; i++) {
        int sextet = sextet_of(text[i], url);
        if (sextet < 0) {
            free(decoded);
            return -EINVAL;
        }
        accumulator = (accumulator << 6 | (uint32_t)sextet) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            decoded[written++] = (unsigned char)(accumulator >> bits);
        }
    }
    /* Leftover bits must be zero: one canonical encoding per byte string. */
    if ((accumulator & ((1u << bits) - 1)) != 0) {
        free(decoded);
        return -EINVAL;
    }
    *out = decoded;
    return (long)written;
}

static void base64url_encode(const unsigned char *data, size_t length, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t accumulator = 0;
    int bits = 0;
    for (size_t i = 0; i < length; i++) {
        accumulator = (accumulator << 8 | data[i]) & 0xffff;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = alphabet[(accumulator >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(accumulator << (6 - bits)) & 63];
    out[o] = '\0';
}

/* ---- key identities ----------------------------------------------------- */

static enum algorithm key_algorithm(EVP_PKEY *key)
{
    if (EVP_PKEY_is_a(key, "RSA"))
        return EVP_PKEY_get_bits(key) >= RSA_BITS_MIN ? ALGORITHM_RS256 : ALGORITHM_NONE;
    if (EVP_PKEY_is_a(key, "EC")) {
        char group[64];
        size_t group_length = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &group_length) != 1)
            return ALGORITHM_NONE;
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            return ALGORITHM_ES256;
    }
    return ALGORITHM_NONE;
}

static const char *algorithm_name(enum algorithm algorithm)
{
    return algorithm == ALGORITHM_RS256 ? "RS256" : algorithm == ALGORITHM_ES256 ? "ES256" : "?";
}

/* libtrust's key ID: SHA-256 of the DER SubjectPublicKeyInfo, the first 30
 * bytes in base32 (48 characters), in groups of four joined by ':'. */
static int libtrust_key_id(EVP_PKEY *key, char out[TOKEN_KEY_ID_MAX])
{
    unsigned char *der = NULL;
    int der_length = i2d_PUBKEY(key, &der);
    if (der_length <= 0)
        return -EINVAL;
    unsigned char hash[SHA256_DIGEST_LENGTH];
    SHA256(der, (size_t)der_length, hash);
    OPENSSL_free(der);

    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    char base32[49];
    size_t o = 0;
    for (size_t i = 0; i < 30; i += 5) {
        uint64_t block = 0;
        for (size_t j = 0; j < 5; j++)
            block = block << 8 | hash[i + j];
        for (int shift = 35; shift >= 0; shift -= 5)
            base32[o++] = alphabet[(block >> shift) & 31];
    }
    base32[o] = '\0';
    size_t w = 0;
    for (size_t i = 0; i < 48; i++) {
        if (i > 0 && i % 4 == 0)
            out[w++] = ':';
        out[w++] = base32[i];
    }
    out[w] = '\0';
    return 0;
}

/* Appends base64url(big-endian bytes of `number`, minimal or padded to `width`). */
static int append_bn(EVP_PKEY *key, const char *parameter, int width, char *out, size_t out_size)
{
    BIGNUM *number = NULL;
    if (EVP_PKEY_get_bn_param(key, parameter, &number) != 1)
        return -EINVAL;
    int length = width > 0 ? width : BN_num_bytes(number);
    if (length <= 0 || length > 1024) {
        BN_free(number);
        return -EINVAL;
    }
    unsigned char bytes[1024];
    int written = width > 0 ? BN_bn2binpad(number, bytes, width) : BN_bn2bin(number, bytes);
    BN_free(number);
    if (written != length)
        return -EINVAL;
    size_t used = strlen(out);
    if (used + ((size_t)length * 4 + 2) / 3 + 1 > out_size)
        return -EINVAL;
    base64url_encode(bytes, (size_t)length, out + used);
    return 0;
}

/* RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA or P-256 key. */
static int jwk_thumbprint(EVP_PKEY *key, enum algorithm algorithm, char out[TOKEN_KEY_ID_MAX])
{
    char members[2048] = "";
    if (algorithm == ALGORITHM_RS256) {
        strcat(members, "{\"e\":\"");
        if (append_bn(key, OSSL_PKEY_PARAM_RSA_E, 0, members, sizeof members) < 0)
            return -EINVAL;
        strcat(members, "\",\"kty\":\"RSA\",\"n\":\"");
        if (append_bn(key, OSSL_PKEY_PARAM_RSA_N, 0, members, sizeof members) < 0)
            return -EINVAL;
        strcat(members, "\"}");
    } else if (algorithm == ALGORITHM_ES256) {
        strcat(members, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"");
        if (append_bn(key, OSSL_PKEY_PARAM_EC_PUB_X, P256_COORDINATE, members, sizeof members) < 0)
            return -EINVAL;
        strcat(members, "\",\"y\":\"");
        if (append_bn(key, OSSL_PKEY_PARAM_EC_PUB_Y, P256_COORDINATE, members, sizeof members) < 0)
            return -EINVAL;
        strcat(members, "\"}");
    } else {
        return -EINVAL;
    }
    unsigned char hash[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)members, strlen(members), hash);
    base64url_encode(hash, sizeof hash, out);
    return 0;
}

int token_key_ids(EVP_PKEY *key, char thumbprint_out[TOKEN_KEY_ID_MAX],
                  char libtrust_out[TOKEN_KEY_ID_MAX])
{
    enum algorithm algorithm = key_algorithm(key);
    if (algorithm == ALGORITHM_NONE)
        return error_set(-EINVAL, "not an RSA (2048 bits or more) or P-256 key");
    if (jwk_thumbprint(key, algorithm, thumbprint_out) < 0 ||
        libtrust_key_id(key, libtrust_out) < 0) {
        ERR_clear_error();
        return error_set(-EINVAL, "cannot compute the key's IDs");
    }
    return 0;
}

static int add_key(struct token_verifier *verifier, const char *kid, EVP_PKEY *key,
                   enum algorithm algorithm)
{
    struct trusted_key *grown =
        realloc(verifier->keys, (verifier->key_count + 1) * sizeof *verifier->keys);
    if (grown == NULL)
        return error_set(-ENOMEM, "out of memory");
    verifier->keys = grown;
    char *copy = strdup(kid);
    if (copy == NULL)
        return error_set(-ENOMEM, "out of memory");
    if (EVP_PKEY_up_ref(key) != 1) {
        free(copy);
        return error_set(-ENOMEM, "out of memory");
    }
    verifier->keys[verifier->key_count++] =
        (struct trusted_key){.kid = copy, .key = key, .algorithm = algorithm};
    return 0;
}

static const struct trusted_key *find_key(const struct token_verifier *verifier, const char *kid)
{
    for (size_t i = 0; i < verifier->key_count; i++) {
        if (strcmp(verifier->keys[i].kid, kid) == 0)
            return &verifier->keys[i];
    }
    return NULL;
}

/* ---- loading ------------------------------------------------------------ */

static int load_root_bundle(struct token_verifier *verifier, const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        ERR_clear_error();
        return error_set(errno != 0 ? -errno : -EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    verifier->roots = X509_STORE_new();
    if (verifier->roots == NULL) {
        BIO_free(bio);
        return error_set(-ENOMEM, "out of memory");
    }
    /* Every certificate of the bundle is a trust anchor (as in Go). */
    X509_STORE_set_flags(verifier->roots, X509_V_FLAG_PARTIAL_CHAIN);
    int result = 0;
    ERR_clear_error();
    for (;;) {
        X509 *certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (certificate == NULL) {
            unsigned long error = ERR_peek_last_error();
            if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE &&
                verifier->root_count > 0) {
                ERR_clear_error();
                break;
            }
            ERR_clear_error();
            result = error_set(-EINVAL, "%s: %s", path,
                               verifier->root_count == 0
                                   ? "no PEM certificate in the root certificate bundle"
                                   : "malformed PEM certificate after the first ones");
            break;
        }
        verifier->root_count++;
        if (X509_STORE_add_cert(verifier->roots, certificate) != 1) {
            X509_free(certificate);
            ERR_clear_error();
            result = error_set(-EINVAL, "%s: certificate %zu cannot be added", path,
                               verifier->root_count);
            break;
        }
        EVP_PKEY *key = X509_get0_pubkey(certificate);
        /* Its key, by both IDs, when it can sign tokens; otherwise the
         * certificate only anchors x5c chains. */
        char thumbprint[TOKEN_KEY_ID_MAX], libtrust[TOKEN_KEY_ID_MAX];
        if (key != NULL && token_key_ids(key, thumbprint, libtrust) == 0) {
            enum algorithm algorithm = key_algorithm(key);
            result = add_key(verifier, thumbprint, key, algorithm);
            if (result == 0)
                result = add_key(verifier, libtrust, key, algorithm);
        }
        X509_free(certificate);
        if (result < 0)
            break;
    }
    BIO_free(bio);
    return result;
}

/* A JSON string without embedded NUL; its value or NULL. */
static const char *strict_string(const json_t *value, size_t *length_out)
{
    if (!json_is_string(value))
        return NULL;
    const char *text = json_string_value(value);
    size_t length = json_string_length(value);
    if (strlen(text) != length)
        return NULL;
    if (length_out != NULL)
        *length_out = length;
    return text;
}

static int decode_member(const json_t *jwk, const char *member, unsigned char **out)
{
    size_t length;
    const char *text = strict_string(json_object_get(jwk, member), &length);
    if (text == NULL)
        return -EINVAL;
    long decoded = base64_decode(text, length, 1, out);
    return decoded > INT_MAX ? -EINVAL : (int)decoded;
}

static EVP_PKEY *key_from_parameters(const char *type, OSSL_PARAM_BLD *builder)
{
    OSSL_PARAM *parameters = OSSL_PARAM_BLD_to_param(builder);
    EVP_PKEY_CTX *context = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *key = NULL;
    if (parameters == NULL || context == NULL || EVP_PKEY_fromdata_init(context) != 1 ||
        EVP_PKEY_fromdata(context, &key, EVP_PKEY_PUBLIC_KEY, parameters) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(context);
    OSSL_PARAM_free(parameters);
    if (key != NULL) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        if (check == NULL || EVP_PKEY_public_check(check) != 1) {
            EVP_PKEY_free(key);
            key = NULL;
        }
        EVP_PKEY_CTX_free(check);
    }
    ERR_clear_error();
    return key;
}

static EVP_PKEY *rsa_key_from_jwk(const json_t *jwk)
{
    unsigned char *n = NULL, *e = NULL;
    int n_length = decode_member(jwk, "n", &n);
    int e_length = decode_member(jwk, "e", &e);
    EVP_PKEY *key = NULL;
    if (n_length > 0 && e_length > 0 && e_length <= 8) {
        BIGNUM *modulus = BN_bin2bn(n, n_length, NULL);
        BIGNUM *exponent = BN_bin2bn(e, e_length, NULL);
        OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
        if (modulus != NULL && exponent != NULL && builder != NULL &&
            OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_N, modulus) == 1 &&
            OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_RSA_E, exponent) == 1)
            key = key_from_parameters("RSA", builder);
        OSSL_PARAM_BLD_free(builder);
        BN_free(modulus);
        BN_free(exponent);
    }
    free(n);
    free(e);
    return key;
}

static EVP_PKEY *p256_key_from_jwk(const json_t *jwk)
{
    unsigned char *x = NULL, *y = NULL;
    int x_length = decode_member(jwk, "x", &x);
    int y_length = decode_member(jwk, "y", &y);
    EVP_PKEY *key = NULL;
    if (x_length == P256_COORDINATE && y_length == P256_COORDINATE) {
        unsigned char point[1 + 2 * P256_COORDINATE];
        point[0] = 0x04; /* uncompressed */
        memcpy(point + 1, x, P256_COORDINATE);
        memcpy(point + 1 + P256_COORDINATE, y, P256_COORDINATE);
        OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
        if (builder != NULL &&
            OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ==
                1 &&
            OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY, point,
                                             sizeof point) == 1)
            key = key_from_parameters("EC", builder);
        OSSL_PARAM_BLD_free(builder);
    }
    free(x);
    free(y);
    return key;
}

static int load_jwks(struct token_verifier *verifier, const char *path)
{
    json_error_t json_error;
    json_t *document = json_load_file(path, JSON_REJECT_DUPLICATES, &json_error);
    if (document == NULL)
        return error_set(-EINVAL, "%s:%d: %s", path, json_error.line, json_error.text);
    int result = 0;
    size_t first = verifier->key_count;
    size_t usable = 0;
    json_t *keys = json_object_get(document, "keys");
    if (!json_is_object(document) || !json_is_array(keys)) {
        result = error_set(-EINVAL, "%s: expected {\"keys\": [...]}", path);
        goto done;
    }
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const json_t *jwk = json_array_get(keys, i);
        if (!json_is_object(jwk)) {
            result = error_set(-EINVAL, "%s: key %zu is not an object", path, i + 1);
            goto done;
        }
        const char *type = strict_string(json_object_get(jwk, "kty"), NULL);
        const json_t *use_value = json_object_get(jwk, "use");
        const json_t *algorithm_value = json_object_get(jwk, "alg");
        const char *use = strict_string(use_value, NULL);
        const char *algorithm_text = strict_string(algorithm_value, NULL);
        if (type == NULL) {
            result = error_set(-EINVAL, "%s: key %zu has no \"kty\"", path, i + 1);
            goto done;
        }
        if ((use_value != NULL && (use == NULL || strcmp(use, "sig") != 0)) ||
            (algorithm_value != NULL && algorithm_text == NULL))
            continue; /* not a signing key */
        enum algorithm wanted;
        if (strcmp(type, "RSA") == 0)
            wanted = ALGORITHM_RS256;
        else if (strcmp(type, "EC") == 0)
            wanted = ALGORITHM_ES256;
        else
            continue; /* OKP, oct, ...: not ours */
        if (algorithm_text != NULL && strcmp(algorithm_text, algorithm_name(wanted)) != 0)
            continue; /* PS256, ES384...: a key we cannot use */
        if (wanted == ALGORITHM_ES256) {
            const char *curve = strict_string(json_object_get(jwk, "crv"), NULL);
            if (curve == NULL || strcmp(curve, "P-256") != 0)
                continue;
        }
        size_t kid_length;
        const char *kid = strict_string(json_object_get(jwk, "kid"), &kid_length);
        if (kid == NULL || kid_length == 0) {
            result = error_set(-EINVAL, "%s: key %zu has no \"kid\"", path, i + 1);
            goto done;
        }
        for (size_t k = first; k < verifier->key_count; k++) {
            if (strcmp(verifier->keys[k].kid, kid) == 0) {
                result =
                    error_set(-EINVAL, "%s: key %zu: kid \"%s\" is used twice", path, i + 1, kid);
                goto done;
            }
        }
        EVP_PKEY *key = wanted == ALGORITHM_RS256 ? rsa_key_from_jwk(jwk) : p256_key_from_jwk(jwk);
        if (key == NULL) {
            result = error_set(-EINVAL, "%s: key %zu (kid \"%s\"): malformed %s key", path, i + 1,
                               kid, type);
            goto done;
        }
        if (key_algorithm(key) != wanted) {
            EVP_PKEY_free(key);
            result = error_set(-EINVAL, "%s: key %zu (kid \"%s\"): RSA keys need %d bits or more",
                               path, i + 1, kid, RSA_BITS_MIN);
            goto done;
        }
        /* JWKS keys come first so that an explicit kid wins over a derived one. */
        result = add_key(verifier, kid, key, wanted);
        EVP_PKEY_free(key);
        if (result < 0)
            goto done;
        usable++;
    }
    if (usable == 0)
        result = error_set(-EINVAL, "%s: no usable RS256 or ES256 key", path);
done:
    json_decref(document);
    return result;
}

void token_verifier_free(struct token_verifier *verifier)
{
    if (verifier == NULL)
        return;
    free(verifier->issuer);
    free(verifier->service);
    X509_STORE_free(verifier->roots);
    for (size_t i = 0; i < verifier->key_count; i++) {
        free(verifier->keys[i].kid);
        EVP_PKEY_free(verifier->keys[i].key);
    }
    free(verifier->keys);
    free(verifier);
}

int token_verifier_create(const struct token_settings *settings, struct token_verifier **out)
{
    if (settings->issuer == NULL || settings->issuer[0] == '\0')
        return error_set(-EINVAL, "auth.token.issuer is required");
    if (settings->service == NULL || settings->service[0] == '\0')
        return error_set(-EINVAL, "auth.token.service is required");
    int has_bundle =
        settings->root_certificate_bundle != NULL && settings->root_certificate_bundle[0] != '\0';
    int has_jwks = settings->jwks != NULL && settings->jwks[0] != '\0';
    if (!has_bundle && !has_jwks)
        return error_set(-EINVAL, "auth.token needs rootcertbundle or jwks");

    struct token_verifier *verifier = calloc(1, sizeof *verifier);
    if (verifier == NULL)
        return error_set(-ENOMEM, "out of memory");
    int result = 0;
    verifier->issuer = strdup(settings->issuer);
    verifier->service = strdup(settings->service);
    if (verifier->issuer == NULL || verifier->service == NULL)
        result = error_set(-ENOMEM, "out of memory");
    /* JWKS first: on a kid collision the explicitly named key wins. */
    if (result == 0 && has_jwks)
        result = load_jwks(verifier, settings->jwks);
    if (result == 0 && has_bundle)
        result = load_root_bundle(verifier, settings->root_certificate_bundle);
    if (result < 0) {
        token_verifier_free(verifier);
        return result;
    }
    *out = verifier;
    return 0;
}

/* ---- verification -------------------------------------------------------- */

static int refuse(const char *reason)
{
    return error_set(-EACCES, "invalid token: %s", reason);
}

/* The leaf key of a verified x5c chain (a new reference), or NULL. */
static EVP_PKEY *key_from_x5c(const struct token_verifier *verifier, const json_t *x5c, time_t now,
                              int *result)
{
    *result = 0;
    if (verifier->roots == NULL) {
        *result = refuse("x5c given but no root certificate bundle is configured");
        return NULL;
    }
    size_t count = json_array_size(x5c);
    if (!json_is_array(x5c) || count == 0 || count > X5C_CHAIN_MAX) {
        *result = refuse("x5c must be an array of 1 to 8 certificates");
        return NULL;
    }
    X509 *leaf = NULL;
    STACK_OF(X509) *intermediates = sk_X509_new_null();
    X509_STORE_CTX *context = X509_STORE_CTX_new();
    EVP_PKEY *key = NULL;
    if (intermediates == NULL || context == NULL) {
        *result = error_set(-ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        size_t length;
        const char *text = strict_string(json_array_get(x5c, i), &length);
        unsigned char *der = NULL;
        long der_length = text != NULL ? base64_decode(text, length, 0, &der) : -EINVAL;
        if (der_length == -ENOMEM) {
            *result = error_set(-ENOMEM, "out of memory");
            goto done;
        }
        const unsigned char *cursor = der;
        X509 *certificate = der_length > 0 ? d2i_X509(NULL, &cursor, der_length) : NULL;
        int complete = certificate != NULL && cursor == der + der_length;
        free(der);
        if (!complete) {
            X509_free(certificate);
            *result = refuse("x5c holds a malformed certificate");
            goto done;
        }
        if (i == 0) {
            leaf = certificate;
        } else if (!sk_X509_push(intermediates, certificate)) {
            X509_free(certificate);
            *result = error_set(-ENOMEM, "out of memory");
            goto done;
        }
    }
    if (X509_STORE_CTX_init(context, verifier->roots, leaf, intermediates) != 1) {
        *result = error_set(-ENOMEM, "out of memory");
        goto done;
    }
    X509_STORE_CTX_set_time(context, 0, now);
    if (X509_verify_cert(context) != 1) {
        char reason[200];
        snprintf(reason, sizeof reason, "x5c chain does not verify to a trusted root: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(context)));
        *result = refuse(reason);
        goto done;
    }
    key = X509_get_pubkey(leaf);
    if (key == NULL)
        *result = refuse("x5c leaf has no usable public key");
done:
    X509_STORE_CTX_free(context);
    sk_X509_pop_free(intermediates, X509_free);
    X509_free(leaf);
    ERR_clear_error();
    return key;
}

static int signature_verifies(EVP_PKEY *key, enum algorithm algorithm, const unsigned char *input,
                              size_t input_length, const unsigned char *signature,
                              size_t signature_length)
{
    unsigned char *der = NULL;
    const unsigned char *checked = signature;
    size_t checked_length = signature_length;
    int verified = 0;
    if (algorithm == ALGORITHM_RS256) {
        if (signature_length != (size_t)EVP_PKEY_get_size(key))
            return 0;
    } else {
        /* JWS carries r||s; OpenSSL wants a DER ECDSA-Sig-Value. */
        if (signature_length != 2 * P256_COORDINATE)
            return 0;
        ECDSA_SIG *value = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(signature, P256_COORDINATE, NULL);
        BIGNUM *s = BN_bin2bn(signature + P256_COORDINATE, P256_COORDINATE, NULL);
        if (value == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(value, r, s) != 1) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(value);
            return -ENOMEM;
        }
        int der_length = i2d_ECDSA_SIG(value, &der);
        ECDSA_SIG_free(value);
        if (der_length <= 0)
            return -ENOMEM;
        checked = der;
        checked_length = (size_t)der_length;
    }
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context == NULL) {
        OPENSSL_free(der);
        return -ENOMEM;
    }
    if (EVP_DigestVerifyInit_ex(context, NULL, "SHA256", NULL, NULL, key, NULL) == 1 &&
        EVP_DigestVerify(context, checked, checked_length, input, input_length) == 1)
        verified = 1;
    EVP_MD_CTX_free(context);
    OPENSSL_free(der);
    ERR_clear_error();
    return verified;
}

/* A NumericDate (integer or real) as seconds; -1 when malformed. */
static int numeric_date(const json_t *value, long long *out)
{
    if (json_is_integer(value)) {
        json_int_t integer = json_integer_value(value);
        if (integer < 0 || (double)integer > NUMERIC_DATE_MAX)
            return -1;
        *out = (long long)integer;
        return 0;
    }
    if (json_is_real(value)) {
        double real = json_real_value(value);
        if (!isfinite(real) || real < 0 || real > NUMERIC_DATE_MAX)
            return -1;
        *out = (long long)floor(real);
        return 0;
    }
    return -1;
}

static int string_equals(const json_t *value, const char *expected)
{
    size_t length;
    const char *text = strict_string(value, &length);
    return text != NULL && length == strlen(expected) && memcmp(text, expected, length) == 0;
}

static char *strict_strdup(const json_t *value)
{
    const char *text = strict_string(value, NULL);
    return text != NULL ? strdup(text) : NULL;
}

/* Fills grant->access from the `access` claim. -EACCES or -ENOMEM. */
static int parse_access(const json_t *access, struct token_grant *grant)
{
    if (access == NULL || json_is_null(access))
        return 0;
    if (!json_is_array(access))
        return refuse("the access claim is not an array");
    size_t count = json_array_size(access);
    if (count == 0)
        return 0;
    grant->access = calloc(count, sizeof *grant->access);
    if (grant->access == NULL)
        return error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const json_t *entry = json_array_get(access, i);
        struct token_access *item = &grant->access[i];
        grant->access_count = i + 1;
        if (!json_is_object(entry))
            return refuse("an access entry is not an object");
        const json_t *type = json_object_get(entry, "type");
        const json_t *name = json_object_get(entry, "name");
        const json_t *actions = json_object_get(entry, "actions");
        if (strict_string(type, NULL) == NULL || strict_string(name, NULL) == NULL)
            return refuse("an access entry lacks a string type or name");
        if (actions != NULL && !json_is_array(actions))
            return refuse("an access entry's actions is not an array");
        item->type = strict_strdup(type);
        item->name = strict_strdup(name);
        if (item->type == NULL || item->name == NULL)
            return error_set(-ENOMEM, "out of memory");
        size_t action_count = json_array_size(actions);
        if (action_count == 0)
            continue;
        item->actions = calloc(action_count, sizeof *item->actions);
        if (item->actions == NULL)
            return error_set(-ENOMEM, "out of memory");
        for (size_t j = 0; j < action_count; j++) {
            const json_t *action = json_array_get(actions, j);
            if (strict_string(action, NULL) == NULL)
                return refuse("an access entry's action is not a string");
            item->actions[j] = strict_strdup(action);
            if (item->actions[j] == NULL)
                return error_set(-ENOMEM, "out of memory");
            item->action_count = j + 1;
        }
    }
    return 0;
}

static int check_claims(const struct token_verifier *verifier, const json_t *claims, time_t now,
                        struct token_grant *grant)
{
    if (!json_is_object(claims))
        return refuse("the claims are not a JSON object");
    if (!string_equals(json_object_get(claims, "iss"), verifier->issuer))
        return refuse("untrusted issuer");

    const json_t *audience = json_object_get(claims, "aud");
    int audience_matches = 0;
    if (json_is_array(audience)) {
        for (size_t i = 0; i < json_array_size(audience); i++) {
            const json_t *item = json_array_get(audience, i);
            if (!json_is_string(item))
                return refuse("the aud claim holds a non-string");
            if (string_equals(item, verifier->service))
                audience_matches = 1;
        }
    } else if (json_is_string(audience)) {
        audience_matches = string_equals(audience, verifier->service);
    } else if (audience != NULL) {
        return refuse("the aud claim is neither a string nor an array");
    }
    if (!audience_matches)
        return refuse("intended for another audience");

    long long now_seconds = (long long)now;
    long long expires, not_before, issued_at;
    const json_t *value = json_object_get(claims, "exp");
    if (value == NULL)
        return refuse("no exp claim");
    if (numeric_date(value, &expires) < 0)
        return refuse("malformed exp claim");
    if (now_seconds - TOKEN_LEEWAY_SECONDS > expires)
        return refuse("expired");
    value = json_object_get(claims, "nbf");
    if (value != NULL) {
        if (numeric_date(value, &not_before) < 0)
            return refuse("malformed nbf claim");
        if (now_seconds + TOKEN_LEEWAY_SECONDS < not_before)
            return refuse("not valid yet (nbf)");
    }
    value = json_object_get(claims, "iat");
    if (value != NULL) {
        if (numeric_date(value, &issued_at) < 0)
            return refuse("malformed iat claim");
        if (now_seconds + TOKEN_LEEWAY_SECONDS < issued_at)
            return refuse("issued in the future (iat)");
    }
    grant->expires_at = (time_t)expires;

    value = json_object_get(claims, "sub");
    if (value != NULL && !json_is_null(value)) {
        if (strict_string(value, NULL) == NULL)
            return refuse("the sub claim is not a string");
        grant->subject = strict_strdup(value);
        if (grant->subject == NULL)
            return error_set(-ENOMEM, "out of memory");
    }
    return parse_access(json_object_get(claims, "access"), grant);
}

static json_t *decode_json(const char *part, size_t length)
{
    unsigned char *decoded = NULL;
    long decoded_length = base64_decode(part, length, 1, &decoded);
    if (decoded_length <= 0)
        return NULL;
    json_error_t json_error;
    json_t *value = json_loadb((const char *)decoded, (size_t)decoded_length,
                               JSON_REJECT_DUPLICATES, &json_error);
    free(decoded);
    return value;
}

int token_verify(const struct token_verifier *verifier, const char *jwt, size_t length, time_t now,
                 struct token_grant *out)
{
    memset(out, 0, sizeof *out);
    if (length == 0 || length > TOKEN_MAX_LENGTH)
        return refuse(length == 0 ? "empty" : "longer than 16 KiB");
    const char *first_dot = memchr(jwt, '.', length);
    const char *second_dot =
        first_dot != NULL ? memchr(first_dot + 1, '.', length - (size_t)(first_dot + 1 - jwt))
                          : NULL;
    if (second_dot == NULL ||
        memchr(second_dot + 1, '.', length - (size_t)(second_dot + 1 - jwt)) != NULL)
        return refuse("not three dot-separated parts");
    size_t header_length = (size_t)(first_dot - jwt);
    const char *payload = first_dot + 1;
    size_t payload_length = (size_t)(second_dot - payload);
    const char *signature_text = second_dot + 1;
    size_t signature_text_length = length - (size_t)(signature_text - jwt);
    if (header_length == 0 || payload_length == 0 || signature_text_length == 0)
        return refuse("an empty part");

    int result = 0;
    json_t *header = NULL, *claims = NULL;
    EVP_PKEY *key = NULL;
    unsigned char *signature = NULL;

    header = decode_json(jwt, header_length);
    if (!json_is_object(header)) {
        result = refuse("the header is not base64url JSON object");
        goto done;
    }
    if (json_object_get(header, "crit") != NULL) {
        result = refuse("the header has crit extensions");
        goto done;
    }
    enum algorithm algorithm;
    const json_t *alg = json_object_get(header, "alg");
    if (string_equals(alg, "RS256"))
        algorithm = ALGORITHM_RS256;
    else if (string_equals(alg, "ES256"))
        algorithm = ALGORITHM_ES256;
    else {
        result = refuse("alg must be RS256 or ES256");
        goto done;
    }

    /* The key: x5c chain, else kid. */
    enum algorithm key_constraint = ALGORITHM_NONE;
    const json_t *x5c = json_object_get(header, "x5c");
    const json_t *kid = json_object_get(header, "kid");
    if (x5c != NULL) {
        key = key_from_x5c(verifier, x5c, now, &result);
        if (key == NULL)
            goto done;
    } else if (kid != NULL) {
        const char *kid_text = strict_string(kid, NULL);
        const struct trusted_key *trusted = kid_text != NULL ? find_key(verifier, kid_text) : NULL;
        if (trusted == NULL) {
            result = refuse("signed by an untrusted key (unknown kid)");
            goto done;
        }
        key = trusted->key;
        EVP_PKEY_up_ref(key);
        key_constraint = trusted->algorithm;
    } else {
        result = refuse("the header names no key (no x5c, no kid)");
        goto done;
    }
    if (key_algorithm(key) != algorithm ||
        (key_constraint != ALGORITHM_NONE && key_constraint != algorithm)) {
        result = refuse("alg does not match the signing key's type");
        goto done;
    }

    long signature_length = base64_decode(signature_text, signature_text_length, 1, &signature);
    if (signature_length == -ENOMEM) {
        result = error_set(-ENOMEM, "out of memory");
        goto done;
    }
    if (signature_length <= 0) {
        result = refuse("malformed signature encoding");
        goto done;
    }
    int verified =
        signature_verifies(key, algorithm, (const unsigned char *)jwt, (size_t)(second_dot - jwt),
                           signature, (size_t)signature_length);
    if (verified < 0) {
        result = error_set(-ENOMEM, "out of memory");
        goto done;
    }
    if (!verified) {
        result = refuse("bad signature");
        goto done;
    }

    claims = decode_json(payload, payload_length);
    if (claims == NULL) {
        result = refuse("the claims are not base64url JSON");
        goto done;
    }
    result = check_claims(verifier, claims, now, out);

done:
    json_decref(header);
    json_decref(claims);
    EVP_PKEY_free(key);
    free(signature);
    if (result < 0) {
        char reason[ERROR_MESSAGE_MAX];
        snprintf(reason, sizeof reason, "%s", error_message());
        token_grant_release(out);
        error_set(result, "%s", reason);
    }
    return result;
}

void token_grant_release(struct token_grant *grant)
{
    free(grant->subject);
    for (size_t i = 0; i < grant->access_count; i++) {
        struct token_access *item = &grant->access[i];
        free(item->type);
        free(item->name);
        for (size_t j = 0; j < item->action_count; j++)
            free(item->actions[j]);
        free(item->actions);
    }
    free(grant->access);
    memset(grant, 0, sizeof *grant);
}

static int entry_has_action(const struct token_access *item, const char *action)
{
    for (size_t i = 0; i < item->action_count; i++) {
        if (strcmp(item->actions[i], action) == 0 || strcmp(item->actions[i], "*") == 0)
            return 1;
    }
    return 0;
}

static int granted(const struct token_grant *grant, const char *type, const char *name,
                   const char *action)
{
    for (size_t i = 0; i < grant->access_count; i++) {
        const struct token_access *item = &grant->access[i];
        if (strcmp(item->type, type) == 0 && strcmp(item->name, name) == 0 &&
            entry_has_action(item, action))
            return 1;
    }
    return 0;
}

int token_grant_allows(const struct token_grant *grant, const char *repository, unsigned actions)
{
    if (grant == NULL || actions == 0)
        return 0;
    if (repository == NULL)
        return actions == ACCESS_CATALOG && granted(grant, "registry", "catalog", "*");
    if (actions & ~(unsigned)(ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE))
        return 0;
    if ((actions & ACCESS_PULL) && !granted(grant, "repository", repository, "pull"))
        return 0;
    if ((actions & ACCESS_PUSH) && !granted(grant, "repository", repository, "push"))
        return 0;
    if ((actions & ACCESS_DELETE) && !granted(grant, "repository", repository, "delete"))
        return 0;
    return 1;
}

/* ---- challenge ----------------------------------------------------------- */

struct writer {
    char *out;
    size_t size;
    size_t length;
    int failed; /* 0, -EINVAL or -ENAMETOOLONG */
};

static void write_raw(struct writer *writer, const char *text)
{
    size_t length = strlen(text);
    if (writer->failed)
        return;
    if (writer->length + length >= writer->size) {
        writer->failed = -ENAMETOOLONG;
        return;
    }
    memcpy(writer->out + writer->length, text, length);
    writer->length += length;
    writer->out[writer->length] = '\0';
}

static void write_quoted(struct writer *writer, const char *text)
{
    write_raw(writer, "\"");
    for (const char *p = text; *p != '\0' && !writer->failed; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f) {
            writer->failed = -EINVAL;
            return;
        }
        char escaped[3] = {'\\', (char)c, '\0'};
        write_raw(writer, c == '"' || c == '\\' ? escaped : escaped + 1);
    }
    write_raw(writer, "\"");
}

int token_challenge_format(char *out, size_t out_size, const char *realm, const char *service,
                           const char *repository, unsigned actions, const char *error)
{
    struct writer writer = {.out = out, .size = out_size};
    if (out_size == 0)
        return error_set(-ENAMETOOLONG, "challenge does not fit");
    out[0] = '\0';
    write_raw(&writer, "Bearer realm=");
    write_quoted(&writer, realm != NULL ? realm : "");
    write_raw(&writer, ",service=");
    write_quoted(&writer, service != NULL ? service : "");

    char scope[512];
    scope[0] = '\0';
    if (repository != NULL && (actions & (ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE))) {
        int length = snprintf(
            scope, sizeof scope, "repository:%s:%s%s%s%s%s", repository,
            actions & ACCESS_PULL ? "pull" : "",
            (actions & ACCESS_PULL) && (actions & (ACCESS_PUSH | ACCESS_DELETE)) ? "," : "",
            actions & ACCESS_PUSH ? "push" : "",
            (actions & ACCESS_PUSH) && (actions & ACCESS_DELETE) ? "," : "",
            actions & ACCESS_DELETE ? "delete" : "");
        if (length < 0 || (size_t)length >= sizeof scope)
            return error_set(-ENAMETOOLONG, "challenge scope does not fit");
    } else if (repository == NULL && (actions & ACCESS_CATALOG)) {
        snprintf(scope, sizeof scope, "registry:catalog:*");
    }
    if (scope[0] != '\0') {
        write_raw(&writer, ",scope=");
        write_quoted(&writer, scope);
    }
    if (error != NULL) {
        write_raw(&writer, ",error=");
        write_quoted(&writer, error);
    }
    if (writer.failed) {
        out[0] = '\0';
        return error_set(writer.failed, writer.failed == -EINVAL
                                            ? "challenge value holds a control character"
                                            : "challenge does not fit");
    }
    return (int)writer.length;
}
