/* tests/fuzz/fuzz_token.c — token_verify() of any string offered as a
 * Bearer token, against a fixed key set (one ES256 and one RS256 key, as a
 * JWKS; the seeds in corpus/token are signed with their private halves,
 * which are not kept) at a fixed time, so that the seeds verify and their
 * mutations reach every check after the signature too. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layout/error.h"
#include "src/auth/token.h"
#include "tests/fuzz/fuzz_support.h"

static const char jwks[] =
    "{\"keys\":["
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"fuzz-ec\",\"use\":\"sig\",\"al"
    "g\":\"ES256\",\"x\":\"BuS0Uq2DLHmXaq5nmJgc_P0ZgcPijfHThgZgrekv4SQ\",\"y\":"
    "\"Alz2XiMn_Hu5p0KPUQf8CQkVu35pGUC-Zcyh6s0A-4Q\"}"
    ","
    "{\"kty\":\"RSA\",\"kid\":\"fuzz-rsa\",\"use\":\"sig\",\"alg\":\"RS256\",\""
    "n\":\"tACwOdT_MEV3hOlr_hc7aFKyJ1iK-gRhQhcWPq4GQPqkBk_X_1xYKrRaa_AAwQF-aKuX"
    "3fVic4fHlKoo1bWZwnjoU413DyHu8rXkrFg4vnLqfhHA9Fsd2EF3KmlH-ABF0wl8FeMjsD0G1P"
    "gT1VdMndkhPxo0mF7IvOt9_EVxpIIUTW8lty2gHrXqV84cqX-5r6B3dI8GbMXQEUwLOnwVvOTh"
    "_MtQ6BFG-fNoTrzcQnJoyFNaXRjrrxx-sahq1FwuMm59yj1TQq3OsL7I0AEMis1LHkIJGzuwDS"
    "Sgxv3yg2Jv06SMyVwhD7GCpluSeF8VD9t3SZClj8dwNZmL2Zsz4Q\",\"e\":\"AQAB\"}"
    "]}";

/* 2026-01-01: the seeds' exp is 2100, nbf and iat 2023. */
#define FUZZ_NOW ((time_t)1767225600)

static struct token_verifier *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[64];
    int fd = fuzz_file_open((const uint8_t *)jwks, sizeof jwks - 1, path, sizeof path);
    FUZZ_CHECK(fd >= 0);
    struct token_settings settings = {
        .issuer = "fuzz-issuer", .service = "fuzz-registry", .jwks = path};
    if (token_verifier_create(&settings, &verifier) < 0) {
        fprintf(stderr, "fuzz_token: %s\n", error_message());
        abort();
    }
    close(fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct token_grant grant;
    int result = token_verify(verifier, (const char *)data, size, FUZZ_NOW, &grant);
    if (result == 0) {
        FUZZ_CHECK(grant.expires_at > FUZZ_NOW - TOKEN_LEEWAY_SECONDS);
        (void)token_grant_allows(&grant, "team-a/app", ACCESS_PULL | ACCESS_PUSH);
        (void)token_grant_allows(&grant, NULL, ACCESS_CATALOG);
        for (size_t i = 0; i < grant.access_count; i++)
            FUZZ_CHECK(grant.access[i].type != NULL && grant.access[i].name != NULL);
    } else {
        FUZZ_CHECK(result == -EACCES || result == -ENOMEM);
    }
    token_grant_release(&grant);
    return 0;
}
