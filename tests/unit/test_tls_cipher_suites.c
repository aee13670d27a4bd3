/* Unit tests for src/config/tls_cipher_suites.h: Distribution's (Go's) cipher
 * suite names, the OpenSSL names they map to (checked against OpenSSL's own
 * table: each OpenSSL name selects exactly the IANA suite the Go name is),
 * which names are refused, and the default TLS 1.2 list (Mozilla's
 * intermediate profile). */
#include "test_support.h"

#include <openssl/ssl.h>

#include "src/config/defaults.h"
#include "src/config/tls_cipher_suites.h"

static const char *const intermediate[] = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",       "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",       "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
};
static const char *const legacy[] = {
    "TLS_RSA_WITH_AES_128_CBC_SHA",         "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",      "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",   "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
};
static const char *const tls13[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                    "TLS_CHACHA20_POLY1305_SHA256"};
static const char *const insecure[] = {
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
};

#define COUNT(array) (sizeof array / sizeof array[0])

/* The IANA (standard) name of the one TLS 1.2 suite an OpenSSL cipher list
 * selects, or NULL when it selects none or several. */
static const char *standard_name_of(const char *openssl_list)
{
    static char name[128];
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    assert_non_null(context);
    const char *result = NULL;
    if (SSL_CTX_set_cipher_list(context, openssl_list) == 1) {
        STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(context);
        int tls12 = 0;
        for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); i++) {
            const SSL_CIPHER *cipher = sk_SSL_CIPHER_value(ciphers, i);
            if (strcmp(SSL_CIPHER_get_version(cipher), "TLSv1.3") == 0)
                continue; /* the TLS 1.3 suites are always in the stack */
            tls12++;
            snprintf(name, sizeof name, "%s", SSL_CIPHER_standard_name(cipher));
        }
        if (tls12 == 1)
            result = name;
    }
    SSL_CTX_free(context);
    return result;
}

static void assert_maps_to_itself(const char *go_name, enum tls_cipher_suite_kind kind)
{
    const struct tls_cipher_suite *suite = tls_cipher_suite_find(go_name);
    assert_non_null(suite);
    assert_string_equal(suite->go_name, go_name);
    assert_int_equal(suite->kind, kind);
    const char *standard = standard_name_of(suite->openssl_name);
    assert_non_null(standard);
    assert_string_equal(standard, go_name); /* Go's names are the IANA names */
}

static void test_tls12_names_map_to_openssl(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(intermediate); i++)
        assert_maps_to_itself(intermediate[i], TLS_CIPHER_SUITE_INTERMEDIATE);
    for (size_t i = 0; i < COUNT(legacy); i++)
        assert_maps_to_itself(legacy[i], TLS_CIPHER_SUITE_LEGACY);
    assert_string_equal(
        tls_cipher_suite_find("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")->openssl_name,
        "ECDHE-RSA-AES128-GCM-SHA256");
    assert_string_equal(tls_cipher_suite_find("TLS_RSA_WITH_AES_128_GCM_SHA256")->openssl_name,
                        "AES128-GCM-SHA256");
}

static void test_go_aliases(void **state)
{
    (void)state;
    /* Go's older constants, without _SHA256 */
    const struct tls_cipher_suite *rsa =
        tls_cipher_suite_find("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305");
    const struct tls_cipher_suite *ecdsa =
        tls_cipher_suite_find("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305");
    assert_non_null(rsa);
    assert_non_null(ecdsa);
    assert_string_equal(rsa->openssl_name, "ECDHE-RSA-CHACHA20-POLY1305");
    assert_string_equal(ecdsa->openssl_name, "ECDHE-ECDSA-CHACHA20-POLY1305");
    assert_int_equal(rsa->kind, TLS_CIPHER_SUITE_INTERMEDIATE);
    assert_int_equal(ecdsa->kind, TLS_CIPHER_SUITE_INTERMEDIATE);
}

static void test_tls13_and_insecure(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(tls13); i++) {
        const struct tls_cipher_suite *suite = tls_cipher_suite_find(tls13[i]);
        assert_non_null(suite);
        assert_int_equal(suite->kind, TLS_CIPHER_SUITE_TLS13);
    }
    for (size_t i = 0; i < COUNT(insecure); i++) {
        const struct tls_cipher_suite *suite = tls_cipher_suite_find(insecure[i]);
        assert_non_null(suite);
        assert_int_equal(suite->kind, TLS_CIPHER_SUITE_INSECURE);
    }
}

static void test_unknown_names(void **state)
{
    (void)state;
    static const char *const unknown[] = {
        "",
        "ECDHE-RSA-AES128-GCM-SHA256", /* an OpenSSL name */
        "tls_ecdhe_rsa_with_aes_128_gcm_sha256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 ",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM",
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", /* not in Go */
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    };
    for (size_t i = 0; i < COUNT(unknown); i++)
        assert_null(tls_cipher_suite_find(unknown[i]));
}

/* The default is the intermediate profile: the same six suites, no other. */
static void test_default_list_is_the_intermediate_profile(void **state)
{
    (void)state;
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    assert_non_null(context);
    assert_int_equal(SSL_CTX_set_cipher_list(context, CONFIG_DEFAULT_TLS12_CIPHER_LIST), 1);
    STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(context);
    size_t tls12 = 0;
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); i++) {
        const SSL_CIPHER *cipher = sk_SSL_CIPHER_value(ciphers, i);
        if (strcmp(SSL_CIPHER_get_version(cipher), "TLSv1.3") == 0)
            continue;
        tls12++;
        const struct tls_cipher_suite *suite =
            tls_cipher_suite_find(SSL_CIPHER_standard_name(cipher));
        assert_non_null(suite);
        assert_int_equal(suite->kind, TLS_CIPHER_SUITE_INTERMEDIATE);
        assert_true(SSL_CIPHER_is_aead(cipher));
        int kx = SSL_CIPHER_get_kx_nid(cipher);
        assert_int_equal(kx, NID_kx_ecdhe);
    }
    assert_int_equal(tls12, COUNT(intermediate));
    SSL_CTX_free(context);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls12_names_map_to_openssl),
        cmocka_unit_test(test_go_aliases),
        cmocka_unit_test(test_tls13_and_insecure),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_default_list_is_the_intermediate_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
