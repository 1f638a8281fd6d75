/* SHA-256 (FIPS 180-4), for storing session tokens hashed at rest. None of the libraries s4f-web
 * links exposes one (libcrypt keeps its own internal), and a token hash does not justify linking
 * a TLS library's crypto directly. Checked against the FIPS test vectors in test_auth.c. */
#ifndef S4F_WEB_SHA256_H
#define S4F_WEB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define S4F_SHA256_LEN 32

void s4f_web_sha256(const void *data, size_t len, uint8_t out[S4F_SHA256_LEN]);
/* The digest of a string as 64 lower-case hex characters and a terminator. */
void s4f_web_sha256_hex(const char *s, char out[2 * S4F_SHA256_LEN + 1]);

#endif
