/* Unit tests for src/auth/token.h: tokens minted here with keys generated here. */
#include "test_support.h"

#include <errno.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "layout/error.h"
#include "src/auth/token.h"

#define NOW ((time_t)1700000000)
#define ISSUER "auth.example.com"
#define SERVICE "registry.example.com"

/* ---- keys and certificates, made once for the whole run ---- */

struct world {
    char *root;
    char bundle_path[PATH_MAX];
    char jwks_path[PATH_MAX];
    EVP_PKEY *rsa_root_key, *ec_root_key;   /* keys of the two bundle roots */
    EVP_PKEY *rsa_jwks_key, *ec_jwks_key;   /* keys published in the JWKS */
    EVP_PKEY *rsa_other_key, *ec_other_key; /* trusted by nobody */
    EVP_PKEY *leaf_key, *intermediate_key;
    X509 *rsa_root, *ec_root;
    X509 *intermediate;   /* CA, signed by rsa_root */
    X509 *leaf_direct;    /* leaf_key, signed by rsa_root */
    X509 *leaf_deep;      /* leaf_key, signed by intermediate */
    X509 *untrusted_root; /* self-signed by rsa_other_key */
    X509 *leaf_untrusted; /* leaf_key, signed by untrusted_root */
    X509 *leaf_expired;   /* leaf_key, signed by rsa_root, expired at NOW */
    struct token_verifier *verifier;
};

static struct world world;

static X509 *make_certificate(const char *name, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                              int ca, long not_before, long not_after)
{
    static long serial = 1;
    X509 *certificate = X509_new();
    assert_non_null(certificate);
    assert_int_equal(X509_set_version(certificate, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(certificate), serial++), 1);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(certificate), NOW + not_before));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(certificate), NOW + not_after));
    X509_NAME *subject = X509_get_subject_name(certificate);
    assert_int_equal(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                                (const unsigned char *)name, -1, -1, 0),
                     1);
    assert_int_equal(
        X509_set_issuer_name(certificate, issuer != NULL ? X509_get_subject_name(issuer) : subject),
        1);
    assert_int_equal(X509_set_pubkey(certificate, key), 1);
    X509V3_CTX context;
    X509V3_set_ctx(&context, issuer != NULL ? issuer : certificate, certificate, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &context, NID_basic_constraints,
                                                    ca ? "critical,CA:TRUE" : "CA:FALSE");
    assert_non_null(extension);
    assert_int_equal(X509_add_ext(certificate, extension, -1), 1);
    X509_EXTENSION_free(extension);
    assert_true(X509_sign(certificate, issuer_key, EVP_sha256()) > 0);
    return certificate;
}

static void base64url(const unsigned char *data, size_t length, char *out)
{
    int written = EVP_EncodeBlock((unsigned char *)out, data, (int)length);
    assert_true(written >= 0);
    for (int i = 0; i < written; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
        else if (out[i] == '=') {
            out[i] = '\0';
            break;
        }
    }
}

static void bn_base64url(EVP_PKEY *key, const char *parameter, int width, char *out)
{
    BIGNUM *number = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(key, parameter, &number), 1);
    unsigned char bytes[1024];
    int length = width > 0 ? BN_bn2binpad(number, bytes, width) : BN_bn2bin(number, bytes);
    assert_true(length > 0);
    BN_free(number);
    base64url(bytes, (size_t)length, out);
}

static json_t *jwk_of(EVP_PKEY *key, const char *kid)
{
    char a[1024], b[1024];
    if (EVP_PKEY_is_a(key, "RSA")) {
        bn_base64url(key, OSSL_PKEY_PARAM_RSA_N, 0, a);
        bn_base64url(key, OSSL_PKEY_PARAM_RSA_E, 0, b);
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", kid, "use", "sig",
                         "alg", "RS256", "n", a, "e", b);
    }
    bn_base64url(key, OSSL_PKEY_PARAM_EC_PUB_X, 32, a);
    bn_base64url(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32, b);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "kid", kid, "crv", "P-256", "x", a,
                     "y", b);
}

static void write_pem_bundle(const char *path, X509 **certificates, size_t count)
{
    BIO *bio = BIO_new_file(path, "w");
    assert_non_null(bio);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(PEM_write_bio_X509(bio, certificates[i]), 1);
    BIO_free(bio);
}

static struct token_settings token_config(const char *bundle, const char *jwks)
{
    struct token_settings settings = {
        .issuer = ISSUER, .service = SERVICE, .root_certificate_bundle = bundle, .jwks = jwks};
    return settings;
}

static int world_setup(void **state)
{
    (void)state;
    world.root = support_root_create();
    support_path(world.bundle_path, "%s/roots.pem", world.root);
    support_path(world.jwks_path, "%s/jwks.json", world.root);

    world.rsa_root_key = EVP_RSA_gen(2048);
    world.rsa_jwks_key = EVP_RSA_gen(2048);
    world.rsa_other_key = EVP_RSA_gen(2048);
    world.ec_root_key = EVP_EC_gen("P-256");
    world.ec_jwks_key = EVP_EC_gen("P-256");
    world.ec_other_key = EVP_EC_gen("P-256");
    world.leaf_key = EVP_EC_gen("P-256");
    world.intermediate_key = EVP_EC_gen("P-256");
    assert_non_null(world.rsa_root_key);
    assert_non_null(world.leaf_key);

    long day = 86400;
    world.rsa_root = make_certificate("rsa root", world.rsa_root_key, NULL, world.rsa_root_key, 1,
                                      -day, 3650 * day);
    world.ec_root = make_certificate("ec root", world.ec_root_key, NULL, world.ec_root_key, 1, -day,
                                     3650 * day);
    world.intermediate = make_certificate("intermediate", world.intermediate_key, world.rsa_root,
                                          world.rsa_root_key, 1, -day, 365 * day);
    world.leaf_direct = make_certificate("token signer", world.leaf_key, world.rsa_root,
                                         world.rsa_root_key, 0, -day, 30 * day);
    world.leaf_deep = make_certificate("deep signer", world.leaf_key, world.intermediate,
                                       world.intermediate_key, 0, -day, 30 * day);
    world.untrusted_root = make_certificate("untrusted", world.rsa_other_key, NULL,
                                            world.rsa_other_key, 1, -day, 3650 * day);
    world.leaf_untrusted =
        make_certificate("untrusted signer", world.leaf_key, world.untrusted_root,
                         world.rsa_other_key, 0, -day, 30 * day);
    world.leaf_expired = make_certificate("expired signer", world.leaf_key, world.rsa_root,
                                          world.rsa_root_key, 0, -30 * day, -day);

    X509 *roots[] = {world.rsa_root, world.ec_root};
    write_pem_bundle(world.bundle_path, roots, 2);

    json_t *keys = json_array();
    json_array_append_new(keys, jwk_of(world.rsa_jwks_key, "rsa-1"));
    json_array_append_new(keys, jwk_of(world.ec_jwks_key, "ec-1"));
    /* skipped: another key type, an encryption key, an algorithm we do not do */
    json_array_append_new(keys,
                          json_pack("{s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "kid",
                                    "ed", "x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"));
    json_t *encryption = jwk_of(world.rsa_other_key, "enc-1");
    json_object_set_new(encryption, "use", json_string("enc"));
    json_array_append_new(keys, encryption);
    json_t *pss = jwk_of(world.rsa_other_key, "pss-1");
    json_object_set_new(pss, "alg", json_string("PS256"));
    json_array_append_new(keys, pss);
    json_t *document = json_pack("{s:o}", "keys", keys);
    assert_int_equal(json_dump_file(document, world.jwks_path, JSON_INDENT(2)), 0);
    json_decref(document);

    struct token_settings config = token_config(world.bundle_path, world.jwks_path);
    assert_int_equal(token_verifier_create(&config, &world.verifier), 0);
    return 0;
}

static int world_teardown(void **state)
{
    (void)state;
    token_verifier_free(world.verifier);
    EVP_PKEY *keys[] = {world.rsa_root_key, world.ec_root_key,     world.rsa_jwks_key,
                        world.ec_jwks_key,  world.rsa_other_key,   world.ec_other_key,
                        world.leaf_key,     world.intermediate_key};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        EVP_PKEY_free(keys[i]);
    X509 *certificates[] = {world.rsa_root,       world.ec_root,     world.intermediate,
                            world.leaf_direct,    world.leaf_deep,   world.untrusted_root,
                            world.leaf_untrusted, world.leaf_expired};
    for (size_t i = 0; i < sizeof certificates / sizeof *certificates; i++)
        X509_free(certificates[i]);
    support_root_remove(world.root);
    return 0;
}

/* ---- minting ---- */

enum signing { SIGN_RS256, SIGN_ES256, SIGN_HS256, SIGN_NONE };

/* "<b64url(header)>.<b64url(claims)>.<signature>" in a malloc'd string. */
static char *mint(EVP_PKEY *key, enum signing signing, const char *header, const char *claims)
{
    size_t header_length = strlen(header), claims_length = strlen(claims);
    char *token = malloc(2 * (header_length + claims_length) + 2048);
    assert_non_null(token);
    base64url((const unsigned char *)header, header_length, token);
    strcat(token, ".");
    base64url((const unsigned char *)claims, claims_length, token + strlen(token));
    size_t input_length = strlen(token);

    unsigned char signature[1024];
    size_t signature_length = sizeof signature;
    if (signing == SIGN_RS256 || signing == SIGN_ES256) {
        EVP_MD_CTX *context = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(context, NULL, EVP_sha256(), NULL, key), 1);
        assert_int_equal(EVP_DigestSign(context, signature, &signature_length,
                                        (const unsigned char *)token, input_length),
                         1);
        EVP_MD_CTX_free(context);
        if (signing == SIGN_ES256) {
            /* DER ECDSA-Sig-Value -> JWS r||s */
            const unsigned char *cursor = signature;
            ECDSA_SIG *value = d2i_ECDSA_SIG(NULL, &cursor, (long)signature_length);
            assert_non_null(value);
            const BIGNUM *r, *s;
            ECDSA_SIG_get0(value, &r, &s);
            assert_int_equal(BN_bn2binpad(r, signature, 32), 32);
            assert_int_equal(BN_bn2binpad(s, signature + 32, 32), 32);
            ECDSA_SIG_free(value);
            signature_length = 64;
        }
    } else if (signing == SIGN_HS256) {
        /* The classic confusion attack: the public key (PEM) as HMAC secret. */
        BIO *bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
        char *pem;
        long pem_length = BIO_get_mem_data(bio, &pem);
        unsigned int mac_length = 0;
        assert_non_null(HMAC(EVP_sha256(), pem, (int)pem_length, (const unsigned char *)token,
                             input_length, signature, &mac_length));
        signature_length = mac_length;
        BIO_free(bio);
    } else {
        signature_length = 0;
    }
    strcat(token, ".");
    if (signature_length > 0)
        base64url(signature, signature_length, token + strlen(token));
    return token;
}

static const char *default_access =
    "[{\"type\":\"repository\",\"name\":\"team-a/app\",\"actions\":[\"pull\",\"push\"]}]";

/* Claims valid at NOW, with `extra` members (or replacements) appended. */
static char *claims_with(const char *iss, const char *aud, const char *times, const char *access)
{
    size_t size = 4096 + (access != NULL ? strlen(access) : 0);
    char *claims = malloc(size);
    assert_non_null(claims);
    snprintf(claims, size, "{%s%s%s\"sub\":\"alice\",%s,\"jti\":\"x1\",\"access\":%s}",
             iss != NULL ? iss : "\"iss\":\"" ISSUER "\",", aud != NULL ? aud : "",
             aud != NULL ? "" : "\"aud\":\"" SERVICE "\",",
             times != NULL ? times : "\"exp\":1700000300,\"nbf\":1699999990,\"iat\":1699999990",
             access != NULL ? access : default_access);
    return claims;
}

static int verify(const char *token, struct token_grant *grant)
{
    return token_verify(world.verifier, token, strlen(token), NOW, grant);
}

/* Verifies and expects a refusal; the message must not quote the token. */
static void expect_refused(const char *token, const char *reason)
{
    struct token_grant grant;
    int result = verify(token, &grant);
    if (result != -EACCES)
        fail_msg("expected -EACCES (%s), got %d (%s)", reason, result, error_message());
    assert_null(grant.access);
    assert_null(grant.subject);
    if (reason != NULL && strstr(error_message(), reason) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", error_message(), reason);
    const char *last_dot = strrchr(token, '.');
    if (last_dot != NULL && strlen(last_dot + 1) >= 8) {
        char piece[9];
        memcpy(piece, last_dot + 1, 8);
        piece[8] = '\0';
        assert_null(strstr(error_message(), piece));
    }
    if (strlen(token) >= 12) {
        char piece[13];
        memcpy(piece, token, 12);
        piece[12] = '\0';
        assert_null(strstr(error_message(), piece));
    }
    token_grant_release(&grant);
}

static void expect_accepted(const char *token)
{
    struct token_grant grant;
    int result = verify(token, &grant);
    if (result != 0)
        fail_msg("expected acceptance, got %d (%s)", result, error_message());
    token_grant_release(&grant);
}

#define HEADER_RS_JWKS "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}"
#define HEADER_ES_JWKS "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ec-1\"}"

/* ---- tests ---- */

static void test_good_tokens(void **state)
{
    (void)state;
    char *claims = claims_with(NULL, NULL, NULL, NULL);
    char *token = mint(world.rsa_jwks_key, SIGN_RS256, HEADER_RS_JWKS, claims);
    struct token_grant grant;
    assert_int_equal(verify(token, &grant), 0);
    assert_string_equal(grant.subject, "alice");
    assert_int_equal(grant.expires_at, 1700000300);
    assert_int_equal(grant.access_count, 1);
    assert_string_equal(grant.access[0].type, "repository");
    assert_string_equal(grant.access[0].name, "team-a/app");
    assert_int_equal(grant.access[0].action_count, 2);
    assert_string_equal(grant.access[0].actions[1], "push");
    assert_int_equal(token_grant_allows(&grant, "team-a/app", ACCESS_PULL), 1);
    assert_int_equal(token_grant_allows(&grant, "team-a/app", ACCESS_PULL | ACCESS_PUSH), 1);
    assert_int_equal(token_grant_allows(&grant, "team-a/app", ACCESS_DELETE), 0);
    assert_int_equal(token_grant_allows(&grant, "team-a/app", ACCESS_PUSH | ACCESS_DELETE), 0);
    assert_int_equal(token_grant_allows(&grant, "team-a/other", ACCESS_PULL), 0);
    assert_int_equal(token_grant_allows(&grant, "team-a/app/sub", ACCESS_PULL), 0);
    assert_int_equal(token_grant_allows(&grant, NULL, ACCESS_CATALOG), 0);
    token_grant_release(&grant);
    token_grant_release(&grant); /* twice is harmless */
    free(token);

    token = mint(world.ec_jwks_key, SIGN_ES256, HEADER_ES_JWKS, claims);
    assert_int_equal(verify(token, &grant), 0);
    assert_int_equal(token_grant_allows(&grant, "team-a/app", ACCESS_PUSH), 1);
    token_grant_release(&grant);
    free(token);
    free(claims);
}

/* A root certificate's key is found by its RFC 7638 thumbprint and by its
 * libtrust key ID. */
static void test_root_key_ids(void **state)
{
    (void)state;
    char *claims = claims_with(NULL, NULL, NULL, NULL);
    char thumbprint[TOKEN_KEY_ID_MAX], libtrust[TOKEN_KEY_ID_MAX], header[256];
    struct {
        EVP_PKEY *key;
        enum signing signing;
        const char *alg;
    } roots[] = {{world.rsa_root_key, SIGN_RS256, "RS256"},
                 {world.ec_root_key, SIGN_ES256, "ES256"}};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(token_key_ids(roots[i].key, thumbprint, libtrust), 0);
        assert_int_equal(strlen(thumbprint), 43);
        assert_int_equal(strlen(libtrust), 59);
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\"}", roots[i].alg,
                 thumbprint);
        char *token = mint(roots[i].key, roots[i].signing, header, claims);
        expect_accepted(token);
        free(token);
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\"}", roots[i].alg, libtrust);
        token = mint(roots[i].key, roots[i].signing, header, claims);
        expect_accepted(token);
        free(token);
        /* the right kid, the wrong key */
        EVP_PKEY *other = roots[i].signing == SIGN_RS256 ? world.rsa_other_key : world.ec_other_key;
        token = mint(other, roots[i].signing, header, claims);
        expect_refused(token, "bad signature");
        free(token);
    }
    free(claims);
}

/* Known answers computed independently (RFC 7638 section 3.1 for the RSA
 * thumbprint; Python's hashlib/base64 for the rest). */
static void test_key_id_vectors(void **state)
{
    (void)state;
    static const char rsa_pem[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0vx7agoebGcQSuuPiLJX\n"
        "ZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS\n"
        "oc/BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ/2W+5JsGY4Hc5n9yBXArwl93lqt\n"
        "7/RN5w6Cf0h4QyQ5v+65YGjQR0/FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0\n"
        "zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt+bFTWhAI4vMQFh6WeZu0f\n"
        "M4lFd2NcRwr3XPksINHaQ+G/xBniIqbw0Ls1jF44+csFCur+kEgU8awapJzKnqDK\n"
        "gwIDAQAB\n"
        "-----END PUBLIC KEY-----\n";
    static const char ec_pem[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEMKBCTNIcKUSDii11ySs3526iDZ8A\n"
        "iTo7Tu6KPAqv7D7gS2XpJFbZiItSs3m9+9Ue6GnvHw/GW2ZZaVtszggXIw==\n"
        "-----END PUBLIC KEY-----\n";
    char thumbprint[TOKEN_KEY_ID_MAX], libtrust[TOKEN_KEY_ID_MAX];

    BIO *bio = BIO_new_mem_buf(rsa_pem, -1);
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(key);
    assert_int_equal(token_key_ids(key, thumbprint, libtrust), 0);
    assert_string_equal(thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_string_equal(libtrust, "VUZD:EDHW:YWLN:RBFQ:KOA3:UVZ2:XKG5:2V2J:WTPI:6SRD:U6PZ:VCO5");
    EVP_PKEY_free(key);

    bio = BIO_new_mem_buf(ec_pem, -1);
    key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(key);
    assert_int_equal(token_key_ids(key, thumbprint, libtrust), 0);
    assert_string_equal(thumbprint, "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s");
    assert_string_equal(libtrust, "KG4U:JTP2:KRGU:YMTT:VJV7:GUDC:LJ65:KO53:NJYX:EMTU:6U4L:DGRA");
    EVP_PKEY_free(key);

    EVP_PKEY *weak = EVP_RSA_gen(1024);
    assert_int_equal(token_key_ids(weak, thumbprint, libtrust), -EINVAL);
    EVP_PKEY_free(weak);
}

static char *x5c_header(const char *alg, X509 **chain, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; i < count; i++) {
        unsigned char *der = NULL;
        int length = i2d_X509(chain[i], &der);
        assert_true(length > 0);
        char *text = malloc((size_t)length * 2 + 8);
        EVP_EncodeBlock((unsigned char *)text, der, length); /* standard, padded */
        json_array_append_new(array, json_string(text));
        free(text);
        OPENSSL_free(der);
    }
    json_t *header = json_pack("{s:s, s:s, s:o}", "typ", "JWT", "alg", alg, "x5c", array);
    char *text = json_dumps(header, JSON_COMPACT);
    json_decref(header);
    return text;
}

static void test_x5c_chains(void **state)
{
    (void)state;
    char *claims = claims_with(NULL, NULL, NULL, NULL);
    struct {
        X509 *chain[2];
        size_t count;
        EVP_PKEY *signer;
        enum signing signing;
        const char *alg;
        const char *refusal; /* NULL: accepted */
    } cases[] = {
        {{world.leaf_direct}, 1, world.leaf_key, SIGN_ES256, "ES256", NULL},
        {{world.leaf_deep, world.intermediate}, 2, world.leaf_key, SIGN_ES256, "ES256", NULL},
        {{world.rsa_root}, 1, world.rsa_root_key, SIGN_RS256, "RS256", NULL},
        /* the intermediate is missing */
        {{world.leaf_deep}, 1, world.leaf_key, SIGN_ES256, "ES256", "x5c chain"},
        {{world.leaf_untrusted}, 1, world.leaf_key, SIGN_ES256, "ES256", "x5c chain"},
        {{world.leaf_untrusted, world.untrusted_root},
         2,
         world.leaf_key,
         SIGN_ES256,
         "ES256",
         "x5c chain"},
        {{world.leaf_expired}, 1, world.leaf_key, SIGN_ES256, "ES256", "expired"},
        /* a good chain, but the token is signed by another key */
        {{world.leaf_direct}, 1, world.ec_other_key, SIGN_ES256, "ES256", "bad signature"},
        /* a good chain, but the alg does not fit the leaf's key */
        {{world.leaf_direct}, 1, world.rsa_root_key, SIGN_RS256, "RS256", "does not match"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *header = x5c_header(cases[i].alg, cases[i].chain, cases[i].count);
        char *token = mint(cases[i].signer, cases[i].signing, header, claims);
        if (cases[i].refusal == NULL)
            expect_accepted(token);
        else
            expect_refused(token, cases[i].refusal);
        free(token);
        free(header);
    }

    /* x5c entries must be strict standard base64 DER certificates */
    const char *bad_x5c[] = {
        "{\"alg\":\"ES256\",\"x5c\":[]}",
        "{\"alg\":\"ES256\",\"x5c\":\"MIIB\"}",
        "{\"alg\":\"ES256\",\"x5c\":[\"not base64!\"]}",
        "{\"alg\":\"ES256\",\"x5c\":[\"AAAA\"]}",
        "{\"alg\":\"ES256\",\"x5c\":[42]}",
    };
    for (size_t i = 0; i < sizeof bad_x5c / sizeof *bad_x5c; i++) {
        char *token = mint(world.leaf_key, SIGN_ES256, bad_x5c[i], claims);
        expect_refused(token, "x5c");
        free(token);
    }

    /* x5c without a root bundle: refused */
    struct token_verifier *jwks_only = NULL;
    struct token_settings config = token_config(NULL, world.jwks_path);
    assert_int_equal(token_verifier_create(&config, &jwks_only), 0);
    X509 *chain[] = {world.leaf_direct};
    char *header = x5c_header("ES256", chain, 1);
    char *token = mint(world.leaf_key, SIGN_ES256, header, claims);
    struct token_grant grant;
    assert_int_equal(token_verify(jwks_only, token, strlen(token), NOW, &grant), -EACCES);
    token_verifier_free(jwks_only);
    free(token);
    free(header);
    free(claims);
}

static void test_times(void **state)
{
    (void)state;
    struct {
        const char *times;
        const char *refusal;
    } cases[] = {
        {"\"exp\":1699999939", "expired"}, /* 61 s ago */
        {"\"exp\":1699999941", NULL},      /* 59 s ago: within the leeway */
        {"\"exp\":1700000300,\"nbf\":1700000061", "not valid yet"},
        {"\"exp\":1700000300,\"nbf\":1700000059", NULL},
        {"\"exp\":1700000300,\"iat\":1700000120", "issued in the future"},
        {"\"exp\":1700000300.5,\"nbf\":1699999999.9", NULL},
        {"\"nbf\":1699999990", "no exp"},
        {"\"exp\":\"1700000300\"", "malformed exp"},
        {"\"exp\":null", "malformed exp"},
        {"\"exp\":-5", "malformed exp"},
        {"\"exp\":1e300", "malformed exp"},
        {"\"exp\":1700000300,\"nbf\":true", "malformed nbf"},
        {"\"exp\":1700000300,\"iat\":[1]", "malformed iat"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *claims = claims_with(NULL, NULL, cases[i].times, NULL);
        char *token = mint(world.rsa_jwks_key, SIGN_RS256, HEADER_RS_JWKS, claims);
        if (cases[i].refusal == NULL)
            expect_accepted(token);
        else
            expect_refused(token, cases[i].refusal);
        free(token);
        free(claims);
    }
}

static void test_issuer_and_audience(void **state)
{
    (void)state;
    struct {
        const char *iss;
        const char *aud;
        const char *refusal;
    } cases[] = {
        {"\"iss\":\"evil.example.com\",", NULL, "untrusted issuer"},
        {"\"iss\":\"auth.example.com.evil\",", NULL, "untrusted issuer"},
        {"\"iss\":\"auth.example.com\\u0000x\",", NULL, "not base64url JSON"}, /* no NUL */
        {"\"iss\":42,", NULL, "untrusted issuer"},
        {"", NULL, "untrusted issuer"}, /* no iss */
        {NULL, "\"aud\":\"other.example.com\",", "another audience"},
        {NULL, "", "another audience"}, /* no aud */
        {NULL, "\"aud\":[\"a\",\"b\"],", "another audience"},
        {NULL, "\"aud\":[],", "another audience"},
        {NULL, "\"aud\":[\"a\",\"" SERVICE "\"],", NULL},
        {NULL, "\"aud\":[\"" SERVICE "\"],", NULL},
        {NULL, "\"aud\":[\"" SERVICE "\",7],", "non-string"},
        {NULL, "\"aud\":{\"x\":1},", "neither"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *claims = claims_with(cases[i].iss, cases[i].aud, NULL, NULL);
        char *token = mint(world.rsa_jwks_key, SIGN_RS256, HEADER_RS_JWKS, claims);
        if (cases[i].refusal == NULL)
            expect_accepted(token);
        else
            expect_refused(token, cases[i].refusal);
        free(token);
        free(claims);
    }
}

static void test_algorithms(void **state)
{
    (void)state;
    char *claims = claims_with(NULL, NULL, NULL, NULL);
    char *token;

    /* alg none, with and without a signature */
    token = mint(NULL, SIGN_NONE, "{\"alg\":\"none\",\"kid\":\"rsa-1\"}", claims);
    expect_refused(token, "empty part");
    free(token);
    token = mint(NULL, SIGN_NONE, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", claims);
    expect_refused(token, "empty part");
    free(token);
    token = mint(world.rsa_jwks_key, SIGN_RS256, "{\"alg\":\"none\",\"kid\":\"rsa-1\"}", claims);
    expect_refused(token, "alg must be");
    free(token);

    /* HS256 keyed with the trusted public key */
    token = mint(world.rsa_jwks_key, SIGN_HS256, "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", claims);
    expect_refused(token, "alg must be");
    free(token);
    /* ... even when it claims RS256 */
    token = mint(world.rsa_jwks_key, SIGN_HS256, HEADER_RS_JWKS, claims);
    expect_refused(token, "bad signature");
    free(token);

    /* other algorithms, missing and mistyped alg */
    const char *headers[] = {
        "{\"alg\":\"RS512\",\"kid\":\"rsa-1\"}",
        "{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}",
        "{\"alg\":\"ES384\",\"kid\":\"ec-1\"}",
        "{\"alg\":\"rs256\",\"kid\":\"rsa-1\"}",
        "{\"kid\":\"rsa-1\"}",
        "{\"alg\":[\"RS256\"],\"kid\":\"rsa-1\"}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        token = mint(world.rsa_jwks_key, SIGN_RS256, headers[i], claims);
        expect_refused(token, "alg must be");
        free(token);
    }

    token = mint(world.rsa_jwks_key, SIGN_RS256, "{\"alg\":\"RS256\\u0000\",\"kid\":\"rsa-1\"}",
                 claims);
    expect_refused(token, "header is not");
    free(token);

    /* alg and key type must agree */
    token = mint(world.rsa_jwks_key, SIGN_RS256, "{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", claims);
    expect_refused(token, "does not match");
    free(token);
    token = mint(world.ec_jwks_key, SIGN_ES256, "{\"alg\":\"RS256\",\"kid\":\"ec-1\"}", claims);
    expect_refused(token, "does not match");
    free(token);

    /* the wrong key for the kid */
    token = mint(world.rsa_other_key, SIGN_RS256, HEADER_RS_JWKS, claims);
    expect_refused(token, "bad signature");
    free(token);
    token = mint(world.ec_other_key, SIGN_ES256, HEADER_ES_JWKS, claims);
    expect_refused(token, "bad signature");
    free(token);

    /* unknown kid, skipped JWKS keys, no key named at all, crit */
    const char *unknown[] = {
        "{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}",
        "{\"alg\":\"RS256\",\"kid\":\"enc-1\"}",
        "{\"alg\":\"RS256\",\"kid\":\"pss-1\"}",
        "{\"alg\":\"RS256\",\"kid\":7}",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        token = mint(world.rsa_other_key, SIGN_RS256, unknown[i], claims);
        expect_refused(token, "unknown kid");
        free(token);
    }
    token = mint(world.rsa_jwks_key, SIGN_RS256, "{\"alg\":\"RS256\"}", claims);
    expect_refused(token, "names no key");
    free(token);
    char jwk_header[2048];
    json_t *jwk = jwk_of(world.rsa_other_key, "self");
    char *jwk_text = json_dumps(jwk, JSON_COMPACT);
    snprintf(jwk_header, sizeof jwk_header, "{\"alg\":\"RS256\",\"jwk\":%s}", jwk_text);
    free(jwk_text);
    json_decref(jwk);
    token = mint(world.rsa_other_key, SIGN_RS256, jwk_header, claims);
    expect_refused(token, "names no key"); /* an embedded key is never trusted */
    free(token);
    token = mint(world.rsa_jwks_key, SIGN_RS256,
                 "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"exp\"]}", claims);
    expect_refused(token, "crit");
    free(token);
    free(claims);
}

static void test_tampering(void **state)
{
    (void)state;
    char *claims = claims_with(NULL, NULL, NULL, NULL);
    char *token = mint(world.ec_jwks_key, SIGN_ES256, HEADER_ES_JWKS, claims);
    expect_accepted(token);
    char *first_dot = strchr(token, '.'), *second_dot = strrchr(token, '.');

    /* tampered payload: more rights, same signature */
    char *greedy =
        claims_with(NULL, NULL, NULL,
                    "[{\"type\":\"repository\",\"name\":\"team-a/app\",\"actions\":[\"*\"]}]");
    char forged[8192];
    char encoded[4096];
    base64url((const unsigned char *)greedy, strlen(greedy), encoded);
    snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(first_dot - token), token, encoded,
             second_dot);
    expect_refused(forged, "bad signature");
    free(greedy);

    /* one bit of the payload */
    snprintf(forged, sizeof forged, "%s", token);
    forged[first_dot - token + 5] ^= 0x01;
    expect_refused(forged, NULL);

    /* tampered signature: a changed byte, a truncated one, swapped r and s */
    snprintf(forged, sizeof forged, "%s", token);
    size_t at = (size_t)(second_dot - token) + 10;
    forged[at] = forged[at] == 'A' ? 'B' : 'A';
    expect_refused(forged, "bad signature");
    snprintf(forged, sizeof forged, "%s", token);
    forged[strlen(forged) - 4] = '\0';
    expect_refused(forged, NULL);
    {
        unsigned char *raw = NULL;
        const char *signature = second_dot + 1;
        size_t length = strlen(signature);
        /* decode by re-padding for OpenSSL's decoder */
        char padded[200];
        snprintf(padded, sizeof padded, "%s%s", signature, length % 4 == 2 ? "==" : "=");
        for (char *p = padded; *p; p++)
            *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
        raw = malloc(100);
        int n = EVP_DecodeBlock(raw, (unsigned char *)padded, (int)strlen(padded));
        assert_true(n >= 64);
        unsigned char swapped[64];
        memcpy(swapped, raw + 32, 32);
        memcpy(swapped + 32, raw, 32);
        char swapped_text[100];
        base64url(swapped, 64, swapped_text);
        snprintf(forged, sizeof forged, "%.*s.%s", (int)(second_dot - token), token, swapped_text);
        expect_refused(forged, "bad signature");
        free(raw);
    }

    /* tampered header: point at the other trusted key */
    char header_text[200];
    base64url((const unsigned char *)HEADER_RS_JWKS, strlen(HEADER_RS_JWKS), header_text);
    snprintf(forged, sizeof forged, "%s%s", header_text, first_dot);
    expect_refused(forged, NULL);

    free(token);
    free(claims);
}

static void test_garbage(void **state)
{
    (void)state;
    char *claims = claims_with(NULL, NULL, NULL, NULL);
    char *good = mint(world.rsa_jwks_key, SIGN_RS256, HEADER_RS_JWKS, claims);
    const char *garbage[] = {
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        "!!!.???.***",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        ".e30.c2ln",
        "eyJhbGciOiJSUzI1NiJ9..c2ln",
        "eyJhbGciOiJSUzI1NiJ9=.e30.c2ln",  /* padding */
        "eyJhbGciOiJSUzI1NiJ9 .e30.c2ln",  /* space */
        "eyJhbGciOiJSUzI1NiJ9\n.e30.c2ln", /* newline */
        "eyJhbGciOiJSUzI1NiJ.e30.c2ln",    /* length 4n+1... stray bits */
        "eyJhbGciOiJSUzI1NiJ9+/.e30.c2ln", /* standard alphabet */
        "bm90IGpzb24.e30.c2ln",            /* header not JSON */
        "WzFd.e30.c2ln",                   /* header is an array */
    };
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++)
        expect_refused(garbage[i], NULL);

    /* duplicate members in the header or the claims */
    char *token = mint(world.rsa_jwks_key, SIGN_RS256,
                       "{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"rsa-1\"}", claims);
    expect_refused(token, NULL);
    free(token);
    char *duplicated =
        claims_with("\"iss\":\"" ISSUER "\",\"iss\":\"" ISSUER "\",", NULL, NULL, NULL);
    token = mint(world.rsa_jwks_key, SIGN_RS256, HEADER_RS_JWKS, duplicated);
    expect_refused(token, "claims are not base64url JSON");
    free(token);
    free(duplicated);
    token = mint(world.rsa_jwks_key, SIGN_RS256, HEADER_RS_JWKS, "[1,2]");
    expect_refused(token, "not a JSON object");
    free(token);

    /* NUL inside, length limits */
    struct token_grant grant;
    char with_nul[4096];
    size_t length = strlen(good);
    memcpy(with_nul, good, length);
    with_nul[10] = '\0';
    assert_int_equal(token_verify(world.verifier, with_nul, length, NOW, &grant), -EACCES);
    assert_int_equal(token_verify(world.verifier, good, length - 1, NOW, &grant), -EACCES);
    assert_int_equal(token_verify(world.verifier, good, length, NOW, &grant), 0);
    token_grant_release(&grant);
    char *huge = malloc(TOKEN_MAX_LENGTH + 2);
    memset(huge, 'A', TOKEN_MAX_LENGTH + 1);
    huge[100] = '.';
    huge[200] = '.';
    huge[TOKEN_MAX_LENGTH + 1] = '\0';
    expect_refused(huge, "longer than 16 KiB");
    free(huge);

    /* claims padded to just over the limit */
    char *access = malloc(TOKEN_MAX_LENGTH);
    snprintf(access, TOKEN_MAX_LENGTH, "[{\"type\":\"x\",\"name\":\"%0*d\",\"actions\":[]}]",
             TOKEN_MAX_LENGTH * 3 / 4, 0);
    char *big_claims = claims_with(NULL, NULL, NULL, access);
    token = mint(world.rsa_jwks_key, SIGN_RS256, HEADER_RS_JWKS, big_claims);
    expect_refused(token, "longer than 16 KiB");
    free(token);
    free(big_claims);
    free(access);
    free(good);
    free(claims);
}

static void test_access_claim(void **state)
{
    (void)state;
    struct token_grant grant;
    char *claims = claims_with(
        NULL, NULL, NULL,
        "[{\"type\":\"repository\",\"name\":\"team-a/app\",\"actions\":[\"pull\"]},"
        "{\"type\":\"repository\",\"name\":\"team-a/app\",\"actions\":[\"push\"]},"
        "{\"type\":\"repository\",\"name\":\"team-b/all\",\"actions\":[\"*\"]},"
        "{\"type\":\"repository(plugin)\",\"name\":\"team-c/x\",\"actions\":[\"pull\"]},"
        "{\"type\":\"repository\",\"name\":\"team-d/none\",\"actions\":[]},"
        "{\"type\":\"repository\",\"name\":\"team-e/no-actions\"},"
        "{\"type\":\"registry\",\"name\":\"catalog\",\"actions\":[\"*\"]}]");
    char *token = mint(world.rsa_jwks_key, SIGN_RS256, HEADER_RS_JWKS, claims);
    assert_int_equal(verify(token, &grant), 0);
    assert_int_equal(grant.access_count, 7);
    /* entries for one repository add up */
    assert_int_equal(token_grant_allows(&grant, "team-a/app", ACCESS_PULL | ACCESS_PUSH), 1);
    assert_int_equal(token_grant_allows(&grant, "team-a/app", ACCESS_DELETE), 0);
    assert_int_equal(
        token_grant_allows(&grant, "team-b/all", ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE), 1);
    assert_int_equal(token_grant_allows(&grant, "team-c/x", ACCESS_PULL), 0);
    assert_int_equal(token_grant_allows(&grant, "team-d/none", ACCESS_PULL), 0);
    assert_int_equal(token_grant_allows(&grant, "team-e/no-actions", ACCESS_PULL), 0);
    assert_int_equal(token_grant_allows(&grant, NULL, ACCESS_CATALOG), 1);
    assert_int_equal(token_grant_allows(&grant, NULL, ACCESS_PULL), 0);
    assert_int_equal(token_grant_allows(&grant, "team-b/all", ACCESS_CATALOG), 0);
    assert_int_equal(token_grant_allows(&grant, "team-b/all", 0), 0);
    assert_int_equal(token_grant_allows(NULL, "team-b/all", ACCESS_PULL), 0);
    token_grant_release(&grant);
    free(token);
    free(claims);

    /* no access claim, null, empty: a valid token that grants nothing */
    const char *nothing[] = {"[]", "null"};
    for (size_t i = 0; i < 2; i++) {
        claims = claims_with(NULL, NULL, NULL, nothing[i]);
        token = mint(world.rsa_jwks_key, SIGN_RS256, HEADER_RS_JWKS, claims);
        assert_int_equal(verify(token, &grant), 0);
        assert_int_equal(grant.access_count, 0);
        assert_int_equal(token_grant_allows(&grant, "team-a/app", ACCESS_PULL), 0);
        token_grant_release(&grant);
        free(token);
        free(claims);
    }

    /* a malformed access claim refuses the whole token */
    const char *malformed[] = {
        "{}",
        "\"repository:x:pull\"",
        "[1]",
        "[{\"name\":\"x\",\"actions\":[\"pull\"]}]",
        "[{\"type\":\"repository\",\"actions\":[\"pull\"]}]",
        "[{\"type\":\"repository\",\"name\":7,\"actions\":[\"pull\"]}]",
        "[{\"type\":\"repository\",\"name\":\"x\",\"actions\":\"pull\"}]",
        "[{\"type\":\"repository\",\"name\":\"x\",\"actions\":[\"pull\",3]}]",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        claims = claims_with(NULL, NULL, NULL, malformed[i]);
        token = mint(world.rsa_jwks_key, SIGN_RS256, HEADER_RS_JWKS, claims);
        expect_refused(token, "access");
        free(token);
        free(claims);
    }
}

static void expect_create_fails(const char *bundle, const char *jwks, const char *reason)
{
    struct token_verifier *verifier = NULL;
    struct token_settings config = token_config(bundle, jwks);
    int result = token_verifier_create(&config, &verifier);
    if (result >= 0)
        fail_msg("expected a failure (%s)", reason);
    assert_null(verifier);
    if (strstr(error_message(), reason) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", error_message(), reason);
}

static void test_verifier_create(void **state)
{
    (void)state;
    char path[PATH_MAX];
    struct token_verifier *verifier = NULL;

    /* either source alone is enough */
    struct token_settings config = token_config(world.bundle_path, NULL);
    assert_int_equal(token_verifier_create(&config, &verifier), 0);
    token_verifier_free(verifier);
    token_verifier_free(NULL);

    config = token_config(world.bundle_path, world.jwks_path);
    config.issuer = NULL;
    assert_int_equal(token_verifier_create(&config, &verifier), -EINVAL);
    config = token_config(world.bundle_path, world.jwks_path);
    config.service = "";
    assert_int_equal(token_verifier_create(&config, &verifier), -EINVAL);
    expect_create_fails(NULL, NULL, "rootcertbundle or jwks");

    support_path(path, "%s/missing.pem", world.root);
    expect_create_fails(path, NULL, "missing.pem");
    support_path(path, "%s/empty.pem", world.root);
    support_write_string(path, "no certificates here\n");
    expect_create_fails(path, NULL, "no PEM certificate");
    support_path(path, "%s/broken.pem", world.root);
    support_write_string(path,
                         "-----BEGIN CERTIFICATE-----\nMIIBIjAN\n-----END CERTIFICATE-----\n");
    expect_create_fails(path, NULL, "broken.pem");

    struct {
        const char *content;
        const char *reason;
    } jwks[] = {
        {"{\"keys\": [", "jwks"},
        {"[]", "expected {\"keys\""},
        {"{\"keys\": {}}", "expected {\"keys\""},
        {"{\"keys\": [], \"keys\": []}", "duplicate"},
        {"{\"keys\": []}", "no usable"},
        {"{\"keys\": [{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}]}", "no usable"},
        {"{\"keys\": [7]}", "not an object"},
        {"{\"keys\": [{\"kid\":\"x\"}]}", "no \"kty\""},
        {"{\"keys\": [{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
         "no \"kid\""},
        {"{\"keys\": "
         "[{\"kty\":\"EC\",\"kid\":\"e\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
         "malformed EC key"},
        /* 32 + 32 bytes, but not a point of the curve */
        {"{\"keys\": [{\"kty\":\"EC\",\"kid\":\"e\",\"crv\":\"P-256\","
         "\"x\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\","
         "\"y\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\"}]}",
         "malformed EC key"},
        {"{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
         "malformed RSA key"},
        {"{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"AQAB=\",\"e\":\"AQAB\"}]}",
         "malformed RSA key"},
    };
    support_path(path, "%s/bad-jwks.json", world.root);
    for (size_t i = 0; i < sizeof jwks / sizeof *jwks; i++) {
        support_write_string(path, jwks[i].content);
        expect_create_fails(NULL, path, jwks[i].reason);
    }

    /* a weak RSA key */
    EVP_PKEY *weak = EVP_RSA_gen(1024);
    json_t *weak_keys = json_array();
    json_array_append_new(weak_keys, jwk_of(weak, "weak"));
    json_t *weak_document = json_pack("{s:o}", "keys", weak_keys);
    assert_int_equal(json_dump_file(weak_document, path, 0), 0);
    json_decref(weak_document);
    EVP_PKEY_free(weak);
    expect_create_fails(NULL, path, "2048 bits");

    /* the same kid twice */
    json_t *keys = json_array();
    json_array_append_new(keys, jwk_of(world.rsa_jwks_key, "same"));
    json_array_append_new(keys, jwk_of(world.ec_jwks_key, "same"));
    json_t *document = json_pack("{s:o}", "keys", keys);
    assert_int_equal(json_dump_file(document, path, 0), 0);
    json_decref(document);
    expect_create_fails(NULL, path, "used twice");
}

static void test_challenge(void **state)
{
    (void)state;
    char out[512];
    int length = token_challenge_format(out, sizeof out, "https://auth.example.com/token", SERVICE,
                                        "team-a/app", ACCESS_PULL | ACCESS_PUSH, NULL);
    assert_string_equal(out, "Bearer realm=\"https://auth.example.com/token\",service=\"" SERVICE
                             "\",scope=\"repository:team-a/app:pull,push\"");
    assert_int_equal(length, (int)strlen(out));

    token_challenge_format(out, sizeof out, "r", "s", "a/b", ACCESS_PULL, "invalid_token");
    assert_string_equal(out, "Bearer realm=\"r\",service=\"s\",scope=\"repository:a/b:pull\","
                             "error=\"invalid_token\"");
    token_challenge_format(out, sizeof out, "r", "s", "a", ACCESS_PUSH | ACCESS_DELETE, NULL);
    assert_string_equal(out, "Bearer realm=\"r\",service=\"s\",scope=\"repository:a:push,delete\"");
    token_challenge_format(out, sizeof out, "r", "s", "a", ACCESS_PULL | ACCESS_DELETE, NULL);
    assert_string_equal(out, "Bearer realm=\"r\",service=\"s\",scope=\"repository:a:pull,delete\"");
    token_challenge_format(out, sizeof out, "r", "s", NULL, ACCESS_CATALOG, "insufficient_scope");
    assert_string_equal(out, "Bearer realm=\"r\",service=\"s\",scope=\"registry:catalog:*\","
                             "error=\"insufficient_scope\"");
    token_challenge_format(out, sizeof out, "r", "s", NULL, 0, NULL);
    assert_string_equal(out, "Bearer realm=\"r\",service=\"s\"");

    /* escaping, control characters, room */
    assert_true(token_challenge_format(out, sizeof out, "a\"b\\c", "s\"", NULL, 0, NULL) > 0);
    assert_string_equal(out, "Bearer realm=\"a\\\"b\\\\c\",service=\"s\\\"\"");
    assert_int_equal(token_challenge_format(out, sizeof out, "r\r\nX-Evil: 1", "s", NULL, 0, NULL),
                     -EINVAL);
    assert_int_equal(token_challenge_format(out, sizeof out, "r", "s\x7f", NULL, 0, NULL), -EINVAL);
    assert_int_equal(
        token_challenge_format(out, 20, "https://auth.example.com/token", "s", NULL, 0, NULL),
        -ENAMETOOLONG);
    assert_string_equal(out, "");
    char exact[32];
    assert_int_equal(token_challenge_format(exact, 29, "r", "s", NULL, 0, NULL), 28);
    assert_int_equal(token_challenge_format(exact, 28, "r", "s", NULL, 0, NULL), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_tokens),     cmocka_unit_test(test_root_key_ids),
        cmocka_unit_test(test_key_id_vectors),  cmocka_unit_test(test_x5c_chains),
        cmocka_unit_test(test_times),           cmocka_unit_test(test_issuer_and_audience),
        cmocka_unit_test(test_algorithms),      cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_garbage),         cmocka_unit_test(test_access_claim),
        cmocka_unit_test(test_verifier_create), cmocka_unit_test(test_challenge),
    };
    return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
