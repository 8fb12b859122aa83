#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bundle/dlp.h"
#include "bundle/dlp_decode.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

static const char *const secret = "Tr0ub4dor&3-horse-battery";
static struct dlp_db *db_builtin; /* built-in only */
static struct dlp_db *db_full;	  /* built-in, custom, the secret */

static const struct dlp_rule_src custom[] = {
    {"employee-id", "\\bEMP-[0-9]{6}\\b", DLP_BLOCK},
    {"internal-host", "corp-[a-z]{3,12}\\.internal", DLP_LOG},
};

static struct dlp_db *make_db(bool builtin, bool with_custom, bool with_secret,
			      const char *cache)
{
	struct dlp_config c = {builtin,
			       with_custom ? custom : NULL,
			       with_custom ? ARRAY_SIZE(custom) : 0,
			       with_secret ? &secret : NULL,
			       with_secret,
			       cache};
	struct error err = ERROR_INIT;
	struct dlp_db *db = NULL;

	if (dlp_db_new(&c, &db, &err) < 0)
		fail_msg("dlp_db_new: %s", err.msg);
	return db;
}

static int setup(void **state)
{
	(void)state;
	db_builtin = make_db(true, false, false, NULL);
	db_full = make_db(true, true, true, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dlp_db_free(db_builtin);
	dlp_db_free(db_full);
	return 0;
}

/* Scan s whole; returns the blocking or else the logged rule, or NULL. */
static const char *scan_rule(const struct dlp_db *db, const char *s,
			     const char **enc)
{
	static char rule[128], encoding[16];
	struct dlp_stream *st = dlp_stream_new(db);
	const struct dlp_hit *l;
	struct dlp_hit hit;
	const char *r = NULL;

	if (dlp_stream_feed(st, s, strlen(s), &hit) ||
	    dlp_stream_finish(st, &hit)) {
		r = hit.rule;
		if (enc)
			*enc = hit.encoding;
	} else if ((l = dlp_stream_logged(st))) {
		r = l->rule;
		if (enc)
			*enc = l->encoding;
	}
	if (r) {
		snprintf(rule, sizeof(rule), "%s", r);
		if (enc) {
			snprintf(encoding, sizeof(encoding), "%s", *enc);
			*enc = encoding;
		}
	}
	dlp_stream_free(st);
	return r ? rule : NULL;
}

static const struct sample {
	const char *rule, *hit, *miss;
} samples[] = {
    {"anthropic-api-key",
     "sk-ant-api03-PtYgjmUhBel31iEl2hpChYgCfrL1spNxnyVmihA-2O76UMFxFkM-"
     "R5Kjp1vRt_1fjORS-6ilI8ihN5KXSc7Tvo-hBKqFYAA",
     "sk-ant-api03-z63FfkCzJr4i0B3JrTAw"},
    {"openai-api-key", "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",
     "sk-3X83RZJzzzzgEOzdmenCT3BlbkFXkhvMdgaKjIg8xNbe3nNy"},
    {"openai-project-key",
     "sk-proj-tGSU8po_799NksnRH9ucAUsdMlHUvTCQCyEZDz-"
     "TddJ8HyS5SUkCnD8zRA9a9SkpXz9w3QlY7Zkuvqdt7s8Stqcbnr3yBdGBLEPH1qhT61qtc4xa"
     "tws8phP9",
     "sk-proj-YXg4JdpmrcXgGCJbW56eCuNGMGmSrC"},
    {"huggingface-token", "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",
     "hf_jq4i9DoV8gz4FkQ1okTB"},
    {"groq-api-key", "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",
     "gsk_6GKFSufrdZSlB5er8bOfZqfM2oeq3hDavJA76rNi"},
    {"replicate-api-token", "r8_cHTp8hkqdlm7tOtHWnsCGRlrwZbqcabUGJmGE",
     "r8_p7CgQ0PBQFI14zGtSnovm14TUOizwd"},
    {"perplexity-api-key",
     "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",
     "pplx-ErGPmpGXafq0fjzLczbttOofL9H2WjQ5TY4MyWuU"},
    {"xai-api-key",
     "xai-"
     "FjsUNPjc01T5GOBUSZGi6HWGK10Zb0RLZ5TR9SPofbciOx9gy1CJdObOIRpFqaDZeV7G5IfQH"
     "eVVEqZe",
     "xai-2qpUWnoVPDF2yeE6RsXcNOPmeMjvqPVStNKiaEdFrRgSnRFsTHsDDDXh5Jmt"},
    {"aws-access-key-id", "AKIAF6BS5E4RYNNEFJQX", "AKIAETUQIDWLHPPM"},
    {"aws-secret-access-key",
     "aws_secret_access_key = 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",
     "aws_secret_access_key = GumXxY9B4bZWOz648JJnUfd7UACNWi"},
    {"google-api-key", "AIzaK_gqv81RKMGHZEM9YpvujA-C5Q52ryFlwRl",
     "AIzaupxqZKm4bV3AyAVHnyrv"},
    {"google-oauth-client-secret", "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",
     "GOCSPX-jjHRg80USP"},
    {"gcp-service-account-key",
     "\"private_key_id\": \"e210471948d33296c87009e8a7f770d9106fd287\"",
     "\"private_key_id\": \"db7f1adbc60926f6967e\""},
    {"azure-storage-account-key",
     "AccountKey=CHLn/"
     "xC+"
     "1hsYgBds1ghxY5OokvQyx7eNWVQ4vnakJkS1pAWTN3lg8zV5yPU8d0FZfWe7ihGyiRUIQfHOJ"
     "MaidD==",
     "AccountKey=gET9D9XyYq6B0Fi7FlaZ7Vt0SXjMpu3uDxYYMfGm"},
    {"azure-ad-client-secret", "zWk8Q~pAePcEJIukB4geqNfngAFTCloiADN5Rp",
     "abc8Q-VI2XQWhX1ssrKrxqVqmCplppjs46Lmue"},
    {"digitalocean-token",
     "dop_v1_c8773e130f7eb19731662b5e803b61ba4168160adb59261ff2d3c425c8d99d19",
     "dop_v1_bdd0b6cc60d5d32cbe54014c2b54b9"},
    {"heroku-api-key", "HEROKU_API_KEY=01234567-89ab-cdef-0123-456789abcdef",
     "HEROKU_API_KEY=01234567-89ab-cdef"},
    {"heroku-platform-key",
     "HRKU-uvinX_zMqf9OgXluCZz8xBfZuXTptFyfePpX6N1NF2XV54wca_7E56w8Zniq",
     "HRKU-wBxfZCGGQccOif7UuXUG"},
    {"databricks-token", "dapi21c402364f9572b85a8e48f687ab165c",
     "dapi58ac5831be38cb8cb4ba"},
    {"hashicorp-vault-token",
     "hvs.k4DwgLGNOaeCtL31Ugq_DfcgaTMnTC0MrAU8urbFt5misIZHbhS4-"
     "FvafhdZxEuhnbzs0z1wNiMg9aW37k5wCnHDep",
     "hvs.v5V7S82qTd"},
    {"doppler-token", "dp.pt.rOJRBRY6HqsP795nf4Gakq5p1Vm8kV6um4yvMpy62O6",
     "dp.pt.SQ1IEE1HSa2bB9UoK4tY"},
    {"github-pat", "ghp_nzNLeK6kjcbhgN7kwjSbbciSPOcSeVce2LWx",
     "ghp_m090I5Qe43W6T8ygpnnhcc826ZWOf0"},
    {"github-oauth-token", "gho_WOOsEgigYWPnsuvBqbwq7sdTWx6uX9MGE2sN",
     "gho_VbYAbBHXgwETdIKnT30f"},
    {"github-user-token", "ghu_K0skBaHmsWWdawFgFSY0l9FLw91GqK8ks0n8",
     "ghu_SoFkh8OXfFYSJYgOuwgz"},
    {"github-server-token", "ghs_7z54VfB4PbxntqB5IGky4Oo8DiIMWSWMPcwL",
     "ghs_uHj31CQJVukDCSXqLoiv"},
    {"github-refresh-token",
     "ghr_"
     "DP4SpGmrtWT01NjUjpUuMHwkpu9mq9Ugk9QgmyjjYtUtBrmgO6grn4yDcaz2YBSoGOsDbjqMV"
     "zaV",
     "ghr_p62BSKLVPA2oQUP44XPS"},
    {"github-fine-grained-pat",
     "github_pat_L2oRlPhDBuqOSg5ApYzTTO_"
     "kq2BEDbN2AHRQ73l5PuXay1F6gcqInkTY88mHwg2KDInTEGbOY1xHvAV8Dn",
     "github_pat_RlzGW7hUNwOdqryzdaeA6AOSRwLqgo"},
    {"gitlab-pat", "glpat-MZCY7Bvqiy8CsT07Lq8T", "glpat-Y2orTyRqBR"},
    {"gitlab-other-token", "glptt-5f08b79affd2b49c12a4b0062983475eb46c5296",
     "glptt-FSnHfV1CQ4"},
    {"npm-token", "npm_hJhqAo0iEFJdED5jSFpFkIM3Vak1uDSKFQs1",
     "npm_DxBA9RelOxOPbbNcRV7v"},
    {"npmrc-auth-token",
     "//registry.npmjs.org/:_authToken=3ff416d4a3baf69dad8199bfca8b6f3a6a94",
     "_authToken=${NPM_TOKEN}"},
    {"pypi-token",
     "pypi-AgEIcHlwaS5vcmclfZZgZMnafy8hWskBf6wmxe1mbVrNHMx1eOc3g-"
     "fp1Z5ibXt80nk8Btb2abplBpq8cJF5x",
     "pypi-AgEIcHlwaS5vcmc7dxXVTS2jU"},
    {"dockerhub-pat", "dckr_pat_kL-6GgebhbkXNNv_hOV48vsoUu1",
     "dckr_pat_EyXYC8rYWK"},
    {"slack-token", "xoxb-1234567890-1234567890123-vsrdNPTZ0Mv3MUa1jM1tLB4p",
     "xoxb-12"},
    {"slack-app-token",
     "xapp-1-AYYYO2SAUQR-1234567890123-"
     "d519448fb2fc6791ce680ce2b27c8af6666259bbc471fb3be24a0b80316f688d",
     "xapp-1-AG2IQCVMLYF"},
    {"slack-webhook",
     "https://hooks.slack.com/services/TBDC9X35E/BZHFQUOF6/"
     "zlC2kx9pUolc8q8wd5J5b16d",
     "https://hooks.slack.com/services/TQ64DGJUA"},
    {"discord-webhook",
     "https://discord.com/api/webhooks/123456789012345678/"
     "zM4n8PVGXpV9Wv4Esb7yeuCjVr5mXcj5RPD9oUsQChx5s4tI10FtdILQvH_nO69othB9",
     "https://discord.com/api/webhooks/123/abc"},
    {"telegram-bot-token", "123456789:AAKpGzU3HEEmXL1uhLsc4Rr4aKxU3f0BJxr",
     "123456789:ABxDwzkl-JwAryNzbi0hSQK-lb09rIFxUeu"},
    {"twilio-api-key", "SKb0be23b7ac193fe04072755398003680",
     "SKe7e3b35183ef8333c477"},
    {"sendgrid-api-key",
     "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",
     "SG.L0KJFlK6CXzU6M98NdFQCy"},
    {"mailgun-api-key", "key-GIyLza7wk38puJuFrs4nsdXbkJeM3wCQ",
     "key-dHy1CwVWgHo9RV7jAvQw"},
    {"mailchimp-api-key", "4683f84d30d3fc4d83cee9b9bcca0fce-us12",
     "9594dc72aa7a6d0018f99ddceb1be027-eu12"},
    {"shopify-token", "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",
     "shpat_1d00909c30065f846d34"},
    {"square-access-token",
     "EAAAundmjv_73hbPsETJveImiSy5XcgCYf4gEFCfuwOa6M1G-iFXC0NZ_cFlwvTW",
     "EAAAla4szJxhvI3yvzPe9hB0"},
    {"square-oauth-secret",
     "sq0csp-SFXy7KSE3eJdRtEqlzIq47EuVTBZWAM8AD5qH4VFZBq",
     "sq0csp-3WhRGfI2rVXWybQTKjta"},
    {"datadog-api-key", "DD_API_KEY=c257a632b96292794c9bce4850bbd0e7",
     "DD_API_KEY=cb3593871c15d694c195"},
    {"newrelic-api-key", "NRAK-O57Q1WAHSCDPHCUNWF0ZOR7FW12", "NRAK-V626DN16I5"},
    {"grafana-service-token", "glsa_Wmc8S0ZJqlIkXOpIqp9dkwwAfmOtiiRT_ff770e4b",
     "glsa_Sti4TjLKpvO0hJBW8kRQ"},
    {"linear-api-key", "lin_api_jMD1Xz1nhSsaxFncd5rtmhStC9hkuCDKxskJecaD",
     "lin_api_WFfVTvVKqgPF9BFmYIua"},
    {"atlassian-api-token",
     "ATATT3TlKGFkrddYsLVxvnNPWxTODVrVGEhfnZgB-2-"
     "uMksDur4Zlf49yBVae2sKjh1Ri4bwvWLa4Sz8kP62tZkhQM1V9rMRdyC5ksV1UE4YHoDxzoCG"
     "myG_D6Cok0j4ron6Yvy8lrVhZEgVfbB6Mpr2lzoTvURbGpEVT_fTmTPoeFGTy5c4oc_ojH",
     "ATATT3ljJ7s3RQy1"},
    {"postman-api-key",
     "PMAK-488e00a4ff1125cf5ec72ba6-94165beaecba0afa707e1448c828b4136d",
     "PMAK-3b97429ab7bca1aafb77b446"},
    {"stripe-secret-key",
     "sk_live_"
     "a43QDzCzKXt7kLejtUtqUKJQ79ve6mL7fLltLwDwXSBU37e1Fu5lr5qIbWkOrpTbndzCm5Ms3"
     "GPgmpUd9iMdfeZ04KvUiamrIP4",
     "sk_test_"
     "aOu7bnuu3VbPFzNRZvld3AYcfONvXFMzq8D3ab7uKPudANTU1vkfbjnjHX1fw0xBwIRL3JjQM"
     "KvoVNq0TEWcXPtPXJTDJrxHH8r"},
    {"stripe-restricted-key",
     "rk_live_"
     "iqaJEgPZXxjOozWf7bNihdIGnJXlq8MxVj5l3V26XkHbwXTpC3FnO6w5ZyDnuY5bgQUaeZP6z"
     "R3wdoKyA66y8QO3obqbqTBpown",
     "rk_test_"
     "uWBPrt4FnKYkE373Xr9Wi0tsfvaF35pkuRNM9CnLd4Yn24VxcXX3ClB3i7tRbZhj6ai6tjGVw"
     "gWkDRzfAvP6QTz4v5cLpmYOSac"},
    {"stripe-webhook-secret", "whsec_iGMoKBSgUbd5ue4hh9FiHBaloRIjOVIG",
     "whsec_hHw1F96ewn"},
    {"payment-card", "4111 1111 1111 1111", "4111 1111 1111 1112"},
    {"pem-private-key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA",
     "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq"},
    {"openssh-private-key",
     "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA",
     "-----BEGIN OPENSSH PUBLIC KEY-----"},
    {"pgp-private-key", "-----BEGIN PGP PRIVATE KEY BLOCK-----",
     "-----BEGIN PGP PUBLIC KEY BLOCK-----"},
    {"putty-private-key", "PuTTY-User-Key-File-3: ssh-ed25519",
     "PuTTY-User-Key-File: ssh-ed25519"},
    {"age-secret-key",
     "AGE-SECRET-KEY-"
     "1WY3TQS3YZVR6H3Q5ZAJ463EM56CFCC6FQ0SC0V89ZRE5U5AQ774C0CKYE3",
     "AGE-SECRET-KEY-15YWSS7K7WFYHD2H0TFAT"},
    {"jwt",
     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJhbGciOiJIUzI1NiJ9.notajwt"},
    {"url-credentials", "https://deploy:hunter22@git.example.com/repo.git",
     "https://git.example.com/repo.git"},
    {"generic-secret", "api_key = \"O8025P36cuyx130BhAjSqygxwQZHHtCQ3x\"",
     "api_key = \"get_token_from_environment\""},
};

static void builtin_samples(void **state)
{
	char buf[512];
	const char *r;

	(void)state;
	assert_true(ARRAY_SIZE(samples) >= 40);
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		snprintf(buf, sizeof(buf), "x = 1;\n%s\nend\n", samples[i].hit);
		r = scan_rule(db_builtin, buf, NULL);
		if (!r || strcmp(r, samples[i].rule) != 0)
			fail_msg("%s: got %s for %s", samples[i].rule,
				 r ? r : "nothing", samples[i].hit);
		snprintf(buf, sizeof(buf), "x = 1;\n%s\nend\n",
			 samples[i].miss);
		r = scan_rule(db_builtin, buf, NULL);
		if (r && strcmp(r, samples[i].rule) == 0)
			fail_msg("%s near miss: got %s for %s", samples[i].rule,
				 r, samples[i].miss);
	}
}

static void clean_text(void **state)
{
	(void)state;
	assert_null(scan_rule(db_full,
			      "GET /v1/models?limit=20 HTTP/1.1\r\n"
			      "Host: api.example.com\r\nAccept: */*\r\n"
			      "{\"id\": \"f03b3b7b107383f2\", \"count\": 12}\n"
			      "static int parse(struct buffer *b, size_t n);\n",
			      NULL));
}

static void luhn(void **state)
{
	(void)state;
	assert_string_equal(
	    scan_rule(db_builtin, "pay 4242424242424242 now", NULL),
	    "payment-card");
	assert_string_equal(
	    scan_rule(db_builtin, "amex 3782-822463-10005.", NULL),
	    "payment-card");
	assert_null(scan_rule(db_builtin, "pay 4242424242424241 now", NULL));
	assert_null(scan_rule(db_builtin, "id 1234567890123456 x", NULL));
}

static void log_vs_block(void **state)
{
	struct dlp_stream *s = dlp_stream_new(db_full);
	const char *a = "see corp-build.internal and ", *b = "EMP-123456 ";
	struct dlp_hit hit;

	(void)state;
	assert_int_equal(dlp_stream_feed(s, a, strlen(a), &hit), 0);
	assert_non_null(dlp_stream_logged(s));
	assert_string_equal(dlp_stream_logged(s)->rule, "internal-host");
	assert_int_equal(dlp_stream_logged(s)->action, DLP_LOG);
	assert_int_equal(dlp_stream_feed(s, b, strlen(b), &hit), 1);
	assert_string_equal(hit.rule, "employee-id");
	assert_string_equal(hit.category, "custom");
	assert_int_equal(hit.action, DLP_BLOCK);
	/* Once blocked, it stays blocked. */
	assert_int_equal(dlp_stream_feed(s, "x", 1, &hit), 1);
	assert_int_equal(dlp_stream_finish(s, &hit), 1);
	dlp_stream_free(s);
}

/* Feed s in two pieces split at every position; every split must block
 * with rule (and encoding, if given). */
static void every_split(const struct dlp_db *db, const char *s,
			const char *rule, const char *enc)
{
	size_t n = strlen(s);

	for (size_t cut = 0; cut <= n; cut++) {
		struct dlp_stream *st = dlp_stream_new(db);
		struct dlp_hit hit;
		int r = dlp_stream_feed(st, s, cut, &hit);

		if (!r)
			r = dlp_stream_feed(st, s + cut, n - cut, &hit);
		if (!r)
			r = dlp_stream_finish(st, &hit);
		if (r != 1 || strcmp(hit.rule, rule) != 0 ||
		    (enc && strcmp(hit.encoding, enc) != 0))
			fail_msg("split at %zu of %s: %s/%s", cut, s,
				 r ? hit.rule : "no hit",
				 r ? hit.encoding : "");
		dlp_stream_free(st);
	}
}

static void split_across_feeds(void **state)
{
	(void)state;
	every_split(db_full,
		    "token ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5 ok",
		    "github-pat", "plain");
	every_split(db_full, "pass=Tr0ub4dor&3-horse-battery;",
		    "injected-secret", "plain");
	every_split(db_full, "x EMP-654321.", "employee-id", "plain");
}

static char *b64(const char *s)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
	    "wxyz0123456789+/";
	size_t n = strlen(s), m = 0;
	char *o = xmalloc(n / 3 * 4 + 8);

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;

		v |= i + 1 < n ? (unsigned char)s[i + 1] << 8 : 0;
		v |= i + 2 < n ? (unsigned char)s[i + 2] : 0;
		o[m++] = a[v >> 18 & 63];
		o[m++] = a[v >> 12 & 63];
		o[m++] = i + 1 < n ? a[v >> 6 & 63] : '=';
		o[m++] = i + 2 < n ? a[v & 63] : '=';
	}
	o[m] = 0;
	return o;
}

static char *hex(const char *s, bool pct)
{
	struct strbuf sb = STRBUF_INIT;

	for (; *s; s++)
		strbuf_addf(&sb, pct ? "%%%02X" : "%02x", (unsigned char)*s);
	return strbuf_detach(&sb, NULL);
}

static void encoded(const char *plain, const char *rule)
{
	_cleanup_free_ char *b = b64(plain), *h = hex(plain, false),
			    *u = hex(plain, true);
	char buf[1024];

	snprintf(buf, sizeof(buf), "{\"data\": \"%s\"}", b);
	every_split(db_full, buf, rule, "base64");
	snprintf(buf, sizeof(buf), "blob=%s&x=1", h);
	every_split(db_full, buf, rule, "hex");
	snprintf(buf, sizeof(buf), "GET /?q=%s HTTP/1.1", u);
	every_split(db_full, buf, rule, "url");
}

/* Scan buf whole with a stream dlp_stream_new() makes anew (the db's
 * spare is taken meanwhile); "rule/encoding" of the block, or "-". */
static void scan_fresh(const char *buf, size_t n, char *out, size_t size)
{
	struct dlp_stream *hold = dlp_stream_new(db_full);
	struct dlp_stream *s = dlp_stream_new(db_full);
	struct dlp_hit hit;
	int r = dlp_stream_feed(s, buf, n, &hit);

	if (!r)
		r = dlp_stream_finish(s, &hit);
	snprintf(out, size, "%s/%s", r ? hit.rule : "-",
		 r ? hit.encoding : "-");
	dlp_stream_free(s);
	dlp_stream_free(hold);
}

/* A stream freed in the middle of a secret (or after a block) leaves
 * nothing to the next one: dlp_stream_free() keeps it as the db's spare
 * and dlp_stream_new() hands it out again. */
static void reused_stream_starts_clean(void **state)
{
	_cleanup_free_ char *b = b64("pass=Tr0ub4dor&3-horse-battery;");
	_cleanup_free_ char *u = hex("Tr0ub4dor&3-horse-battery", true);
	const char *all[] = {
	    "token ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5 ok",
	    "pass=Tr0ub4dor&3-horse-battery;", b, u};
	struct dlp_hit hit;
	char got[128], want[128];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		size_t n = strlen(all[i]);
		struct dlp_stream *s;

		for (size_t cut = 1; cut < n; cut++) {
			int r;

			s = dlp_stream_new(db_full);
			(void)dlp_stream_feed(s, all[i], cut, &hit);
			dlp_stream_free(s);
			/* The rest, after the cut-off stream: as if alone. */
			r = dlp_scan(db_full, all[i] + cut, n - cut, &hit);
			snprintf(got, sizeof(got), "%s/%s", r ? hit.rule : "-",
				 r ? hit.encoding : "-");
			scan_fresh(all[i] + cut, n - cut, want, sizeof(want));
			if (strcmp(got, want) != 0)
				fail_msg("%s cut at %zu: the rest gives %s, "
					 "alone %s",
					 all[i], cut, got, want);
		}
		/* After a block. */
		s = dlp_stream_new(db_full);
		assert_int_equal(dlp_stream_feed(s, all[i], n, &hit), 1);
		dlp_stream_free(s);
		s = dlp_stream_new(db_full);
		assert_int_equal(dlp_stream_feed(s, "fine", 4, &hit), 0);
		assert_int_equal(dlp_stream_finish(s, &hit), 0);
		assert_null(dlp_stream_logged(s));
		dlp_stream_free(s);
	}
}

static void encoded_forms(void **state)
{
	(void)state;
	encoded("key: ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5", "github-pat");
	encoded(secret, "injected-secret");
	/* Literal forms catch the secret mid-blob at any alignment. */
	for (int pad = 0; pad < 3; pad++) {
		char in[128];
		_cleanup_free_ char *b = NULL;

		snprintf(in, sizeof(in), "%.*sprefix %s suffix", pad, "ab",
			 secret);
		b = b64(in);
		assert_string_equal(scan_rule(db_full, b, NULL),
				    "injected-secret");
	}
	/* MIME-wrapped base64. */
	{
		_cleanup_free_ char *b =
		    b64("some text before the key so that it wraps: "
			"ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5 and after");
		char buf[512];
		size_t n = strlen(b);

		snprintf(buf, sizeof(buf), "%.40s\r\n%s", b, b + 40);
		assert_true(n > 40);
		every_split(db_full, buf, "github-pat", "base64");
	}
}

static void bad_regex(void **state)
{
	struct dlp_rule_src bad[] = {{"broken", "foo(bar", DLP_BLOCK}};
	struct dlp_rule_src unb[] = {{"greedy", "secret=.*", DLP_BLOCK}};
	struct dlp_config c = {false, bad, 1, NULL, 0, NULL};
	const char *shortsec = "abc";
	struct error err = ERROR_INIT;
	struct dlp_db *db = NULL;

	(void)state;
	assert_int_equal(dlp_db_new(&c, &db, &err), -EINVAL);
	assert_null(db);
	assert_true(str_has_prefix(err.msg, "dlp pattern broken: "));
	err_clear(&err);
	c.custom = unb;
	assert_int_equal(dlp_db_new(&c, &db, &err), -EINVAL);
	assert_true(str_has_prefix(err.msg, "dlp pattern greedy: "));
	err_clear(&err);
	c.n_custom = 0;
	c.secrets = &shortsec;
	c.n_secrets = 1;
	assert_int_equal(dlp_db_new(&c, &db, &err), -EINVAL);
	assert_null(strstr(err.msg, shortsec));
	assert_true(str_has_prefix(err.msg, "dlp: injected secret #1 is "));
	/* The check at start refuses the same, with the same words. */
	err_clear(&err);
	assert_int_equal(dlp_config_check(&c, &err), -EINVAL);
	assert_true(str_has_prefix(err.msg, "dlp: injected secret #1 is "));
	err_clear(&err);
	c.n_secrets = 0;
	c.custom = bad;
	c.n_custom = 1;
	assert_int_equal(dlp_config_check(&c, &err), -EINVAL);
	assert_true(str_has_prefix(err.msg, "dlp pattern broken: "));
	err_clear(&err);
	c.custom = unb;
	assert_int_equal(dlp_config_check(&c, &err), -EINVAL);
	assert_true(str_has_prefix(err.msg, "dlp pattern greedy: "));
}

static bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	bool found;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	found = memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

static void cache_round_trip(void **state)
{
	char dir[] = "/tmp/test-dlp-XXXXXX", path[512] = "";
	struct dlp_db *a, *b;
	struct dirent *e;
	struct stat st;
	DIR *d;
	int files = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	a = make_db(true, true, true, dir);
	assert_false(dlp_db_from_cache(a));
	d = opendir(dir);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		files++;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_true(str_has_prefix(e->d_name, "dlp-"));
		assert_true(str_has_suffix(e->d_name, ".hsdb"));
	}
	closedir(d);
	assert_int_equal(files, 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_false(file_contains(path, secret));
	b = make_db(true, true, true, dir);
	assert_true(dlp_db_from_cache(b));
	assert_int_equal(dlp_db_max_span(a), dlp_db_max_span(b));
	assert_int_equal(dlp_db_count(a), dlp_db_count(b));
	assert_string_equal(scan_rule(b, "x EMP-123456 y", NULL),
			    "employee-id");
	assert_string_equal(scan_rule(b, secret, NULL), "injected-secret");
	dlp_db_free(b);
	/* A corrupt entry is recompiled, not trusted. */
	{
		FILE *f = fopen(path, "r+b");

		fseek(f, 100, SEEK_SET);
		fputc('X', f);
		fclose(f);
	}
	b = make_db(true, true, true, dir);
	assert_false(dlp_db_from_cache(b));
	assert_string_equal(scan_rule(b, "x EMP-123456 y", NULL),
			    "employee-id");
	dlp_db_free(b);
	/* So is one with a flipped bit deep in a database's bytecode (the
	 * load does not hash it all: Hyperscan's CRC catches it). */
	{
		FILE *f = fopen(path, "r+b");
		int ch;

		assert_int_equal(stat(path, &st), 0);
		fseek(f, st.st_size / 2, SEEK_SET);
		ch = fgetc(f);
		fseek(f, st.st_size / 2, SEEK_SET);
		fputc(ch ^ 1, f);
		fclose(f);
	}
	b = make_db(true, true, true, dir);
	assert_false(dlp_db_from_cache(b));
	dlp_db_free(b);
	b = make_db(true, true, true, dir);
	assert_true(dlp_db_from_cache(b));
	dlp_db_free(b);
	dlp_db_free(a);
	unlink(path);
	rmdir(dir);
}

static void redaction(void **state)
{
	char buf[256];

	(void)state;
	snprintf(buf, sizeof(buf),
		 "/v1/x?key=ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5&p=%s&q=1",
		 secret);
	dlp_redact(db_full, buf, strlen(buf));
	assert_string_equal(buf,
			    "/v1/x?key=****************************"
			    "************&p=*************************&q=1");
	snprintf(buf, sizeof(buf), "card 4111 1111 1111 1111 ok");
	dlp_redact(db_full, buf, strlen(buf));
	assert_string_equal(buf, "card ******************* ok");
	snprintf(buf, sizeof(buf), "nothing to see");
	dlp_redact(db_full, buf, strlen(buf));
	assert_string_equal(buf, "nothing to see");
}

static void max_span(void **state)
{
	(void)state;
	assert_true(dlp_db_max_span(db_full) >= 3 * strlen(secret));
	assert_true(dlp_db_max_span(db_full) <= 512);
	assert_int_equal(dlp_db_count(db_full),
			 dlp_db_count(db_builtin) + ARRAY_SIZE(custom) + 1);
}

/* ---- the decoders on their own ---- */

static void collect(void *ctx, enum dlp_encoding enc, const uint8_t *p,
		    size_t n)
{
	struct strbuf *out = ctx;

	strbuf_add(&out[enc], p, n);
}

static void decode_all(const char *in, size_t step, struct strbuf *out)
{
	struct dlp_decoder *d = dlp_decoder_new(collect, out);
	size_t n = strlen(in);

	for (size_t i = 0; i < n; i += step)
		dlp_decoder_feed(d, in + i, i + step <= n ? step : n - i);
	dlp_decoder_finish(d);
	dlp_decoder_free(d);
}

static void decoder_direct(void **state)
{
	const char *in = "short aGVsbG8= then aGVsbG8gd29ybGQgZnJvbSBiYXNlNjQ= "
			 "and 68656c6c6f20776f726c6421 and a%20b%2Fc!";

	(void)state;
	for (size_t step = 1; step <= strlen(in); step++) {
		struct strbuf out[DLP_ENC_COUNT] = {STRBUF_INIT, STRBUF_INIT,
						    STRBUF_INIT, STRBUF_INIT};

		decode_all(in, step, out);
		/* The hex run is base64 too: decoded, to noise. */
		assert_true(str_has_prefix(out[DLP_ENC_BASE64].buf,
					   "hello world from base64\n"));
		assert_string_equal(out[DLP_ENC_HEX].buf, "hello world!\n");
		assert_string_equal(out[DLP_ENC_URL].buf, "a b/c\n");
		for (int e = 0; e < DLP_ENC_COUNT; e++)
			strbuf_release(&out[e]);
	}
	assert_string_equal(dlp_encoding_name(DLP_ENC_URL), "url");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(builtin_samples),
	    cmocka_unit_test(clean_text),
	    cmocka_unit_test(luhn),
	    cmocka_unit_test(log_vs_block),
	    cmocka_unit_test(split_across_feeds),
	    cmocka_unit_test(reused_stream_starts_clean),
	    cmocka_unit_test(encoded_forms),
	    cmocka_unit_test(bad_regex),
	    cmocka_unit_test(cache_round_trip),
	    cmocka_unit_test(redaction),
	    cmocka_unit_test(max_span),
	    cmocka_unit_test(decoder_direct),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
