/* SHA-256 digests in the OCI form "sha256:<hex>", via libcrypto. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

void sha256_init(struct sha256 *h)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		util_oom();
	h->ctx = ctx;
}

void sha256_update(struct sha256 *h, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
		abort();
}

void sha256_final(struct sha256 *h, char out[DIGEST_LEN])
{
	unsigned char md[32];
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
		abort();
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	static const char hex[] = "0123456789abcdef";
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[71] = '\0';
}

void sha256_abort(struct sha256 *h)
{
	if (h->ctx)
		EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void sha256_digest(const void *data, size_t len, char out[DIGEST_LEN])
{
	struct sha256 h;
	sha256_init(&h);
	sha256_update(&h, data, len);
	sha256_final(&h, out);
}

bool digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
		return false;
	for (int i = 7; i < 71; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

const char *digest_hex(const char *s)
{
	return s + 7;
}
