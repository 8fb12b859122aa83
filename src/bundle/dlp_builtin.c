/* The built-in DLP pattern set.
 *
 * Every pattern starts with a literal or a short caseless keyword, so that
 * Hyperscan's literal prefilter keeps the scan fast, and every repeat is
 * bounded, so that dlp_db_max_span() is finite (the proxy's hold-back).
 * Long tokens are matched on a prefix long enough to be unambiguous.
 *
 * Action: block, except two noisy categories that only log:
 *   payment-card    cards are personal data, not credentials that open the
 *                   user's accounts, and test numbers (4242 4242 4242 4242)
 *                   pass the Luhn check and fill payment code and docs;
 *   generic-secret  "secret = <random-looking value>" is a heuristic; an
 *                   agent legitimately writes config files and fixtures.
 * A user who wants either blocked adds a custom pattern.
 */
#include "bundle/dlp_builtin.h"

#include <hs.h>

#define B DLP_BLOCK
#define L DLP_LOG

/* Characters of base64 / url-safe tokens. */
#define TOK "[A-Za-z0-9_\\-]"
#define HEX "[0-9a-f]"

const struct dlp_builtin dlp_builtin_rules[] = {
    /* AI providers */
    {"anthropic-api-key", "api-key",
     "sk-ant-(?:api|admin|oat|ort)\\d{2}-" TOK "{40}", 0, B, 0},
    {"openai-api-key", "api-key",
     "\\bsk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}", 0, B, 0},
    {"openai-project-key", "api-key",
     "\\bsk-(?:proj|svcacct|admin)-" TOK "{40}", 0, B, 0},
    {"huggingface-token", "api-key", "\\bhf_[A-Za-z0-9]{34,40}\\b", 0, B, 0},
    {"groq-api-key", "api-key", "\\bgsk_[A-Za-z0-9]{52}\\b", 0, B, 0},
    {"replicate-api-token", "api-key", "\\br8_[A-Za-z0-9]{37}\\b", 0, B, 0},
    {"perplexity-api-key", "api-key", "\\bpplx-[A-Za-z0-9]{48}\\b", 0, B, 0},
    {"xai-api-key", "api-key", "\\bxai-[A-Za-z0-9]{80}\\b", 0, B, 0},
    /* Cloud */
    {"aws-access-key-id", "cloud-credential",
     "\\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\\b", 0, B, 0},
    {"aws-secret-access-key", "cloud-credential",
     "(?i:aws)[^\\n]{0,24}(?i:secret)[^\\n]{0,24}[:=][\\s\"']{0,4}"
     "[A-Za-z0-9/+]{40}",
     0, B, 0},
    {"google-api-key", "cloud-credential", "\\bAIza" TOK "{35}", 0, B, 0},
    {"google-oauth-client-secret", "cloud-credential", "\\bGOCSPX-" TOK "{28}",
     0, B, 0},
    {"gcp-service-account-key", "cloud-credential",
     "\"private_key_id\"\\s{0,4}:\\s{0,4}\"" HEX "{40}\"", 0, B, 0},
    {"azure-storage-account-key", "cloud-credential",
     "(?i:AccountKey)=[A-Za-z0-9+/]{86}==", 0, B, 0},
    {"azure-ad-client-secret", "cloud-credential",
     "\\b[A-Za-z0-9_~.]{3}\\dQ~[A-Za-z0-9_~.\\-]{31,34}", 0, B, 0},
    {"digitalocean-token", "cloud-credential", "\\bdo[opr]_v1_" HEX "{64}\\b",
     0, B, 0},
    {"heroku-api-key", "cloud-credential",
     "(?i:heroku)[^\\n]{0,32}\\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
     "[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\b",
     0, B, 0},
    {"heroku-platform-key", "cloud-credential", "\\bHRKU-" TOK "{60}", 0, B, 0},
    {"databricks-token", "cloud-credential", "\\bdapi" HEX "{32}\\b", 0, B, 0},
    {"hashicorp-vault-token", "cloud-credential", "\\bhvs\\." TOK "{24}", 0, B,
     0},
    {"doppler-token", "cloud-credential", "\\bdp\\.pt\\.[A-Za-z0-9]{43}\\b", 0,
     B, 0},
    /* Source hosting and packages */
    {"github-pat", "vcs-token", "\\bghp_[A-Za-z0-9]{36}\\b", 0, B, 0},
    {"github-oauth-token", "vcs-token", "\\bgho_[A-Za-z0-9]{36}\\b", 0, B, 0},
    {"github-user-token", "vcs-token", "\\bghu_[A-Za-z0-9]{36}\\b", 0, B, 0},
    {"github-server-token", "vcs-token", "\\bghs_[A-Za-z0-9]{36}\\b", 0, B, 0},
    {"github-refresh-token", "vcs-token", "\\bghr_[A-Za-z0-9]{36,76}\\b", 0, B,
     0},
    {"github-fine-grained-pat", "vcs-token",
     "\\bgithub_pat_[A-Za-z0-9_]{82}\\b", 0, B, 0},
    {"gitlab-pat", "vcs-token", "\\bglpat-" TOK "{20,40}\\b", 0, B, 0},
    {"gitlab-other-token", "vcs-token",
     "\\bgl(?:ptt|dt|rt|cbt|imt|oas|soat|ft|agent)-" TOK "{20}", 0, B, 0},
    {"npm-token", "package-token", "\\bnpm_[A-Za-z0-9]{36}\\b", 0, B, 0},
    {"npmrc-auth-token", "package-token",
     "_authToken\\s{0,4}=\\s{0,4}[A-Za-z0-9_\\-.+/=]{20}", 0, B, 0},
    {"pypi-token", "package-token", "\\bpypi-AgEIcHlwaS5vcmc" TOK "{50}", 0, B,
     0},
    {"dockerhub-pat", "package-token", "\\bdckr_pat_" TOK "{27}", 0, B, 0},
    /* Messaging and SaaS */
    {"slack-token", "saas-token", "\\bxox[abprse]-[A-Za-z0-9\\-]{10}", 0, B, 0},
    {"slack-app-token", "saas-token",
     "\\bxapp-\\d-[A-Z0-9]{9,12}-\\d{10,14}-[a-f0-9]{32}", 0, B, 0},
    {"slack-webhook", "webhook",
     "hooks\\.slack\\.com/(?:services|workflows|triggers)/"
     "T[A-Z0-9]{6,12}/[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}",
     0, B, 0},
    {"discord-webhook", "webhook",
     "discord(?:app)?\\.com/api/webhooks/\\d{17,20}/" TOK "{60}", 0, B, 0},
    {"telegram-bot-token", "saas-token", "\\b\\d{8,10}:AA" TOK "{33}", 0, B, 0},
    {"twilio-api-key", "saas-token", "\\bSK[0-9a-fA-F]{32}\\b", 0, B, 0},
    {"sendgrid-api-key", "saas-token", "\\bSG\\." TOK "{22}\\." TOK "{43}", 0,
     B, 0},
    {"mailgun-api-key", "saas-token", "\\bkey-[0-9a-zA-Z]{32}\\b", 0, B, 0},
    {"mailchimp-api-key", "saas-token", "\\b" HEX "{32}-us\\d{1,2}\\b", 0, B,
     0},
    {"shopify-token", "saas-token", "\\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\\b",
     0, B, 0},
    {"square-access-token", "saas-token", "\\bEAAA" TOK "{60}", 0, B, 0},
    {"square-oauth-secret", "saas-token", "\\bsq0csp-" TOK "{43}", 0, B, 0},
    {"datadog-api-key", "saas-token",
     "(?i:datadog|dd_api_key|dd_app_key|dd-api-key|ddog)[^\\n]{0,32}"
     "\\b" HEX "{32}(?:" HEX "{8})?\\b",
     0, B, 0},
    {"newrelic-api-key", "saas-token", "\\bNRAK-[A-Z0-9]{27}\\b", 0, B, 0},
    {"grafana-service-token", "saas-token",
     "\\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\\b", 0, B, 0},
    {"linear-api-key", "saas-token", "\\blin_api_[A-Za-z0-9]{40}\\b", 0, B, 0},
    {"atlassian-api-token", "saas-token", "\\bATATT3" TOK "{40}", 0, B, 0},
    {"postman-api-key", "saas-token", "\\bPMAK-" HEX "{24}-" HEX "{34}\\b", 0,
     B, 0},
    /* Payments */
    {"stripe-secret-key", "payment-key", "\\bsk_live_[A-Za-z0-9]{20}", 0, B, 0},
    {"stripe-restricted-key", "payment-key", "\\brk_live_[A-Za-z0-9]{20}", 0, B,
     0},
    {"stripe-webhook-secret", "payment-key", "\\bwhsec_[A-Za-z0-9]{32}", 0, B,
     0},
    {"payment-card", "payment-card",
     "\\b(?:[2-6]\\d{12,18}|[2-6]\\d{3}[ \\-]\\d{4}[ \\-]\\d{4}[ \\-]"
     "\\d{1,7}|3[47]\\d{2}[ \\-]\\d{6}[ \\-]\\d{5})\\b",
     0, L, DLP_CHECK_LUHN, true},
    /* Keys and tokens of any origin */
    {"pem-private-key", "private-key",
     "-----BEGIN (?:RSA |DSA |EC |ENCRYPTED )?PRIVATE KEY-----", 0, B, 0},
    {"openssh-private-key", "private-key",
     "-----BEGIN OPENSSH PRIVATE KEY-----", 0, B, 0},
    {"pgp-private-key", "private-key", "-----BEGIN PGP PRIVATE KEY BLOCK-----",
     0, B, 0},
    {"putty-private-key", "private-key",
     "PuTTY-User-Key-File-\\d: (?:ssh|ecdsa)", 0, B, 0},
    {"age-secret-key", "private-key",
     "AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", 0, B, 0},
    {"jwt", "jwt", "\\beyJ" TOK "{8,80}\\.eyJ" TOK "{8}", 0, B, 0},
    {"url-credentials", "generic-secret",
     "\\b[a-z][a-z0-9+.\\-]{1,10}://[^/\\s:@\"']{1,32}:"
     "[^/\\s:@\"']{3,64}@[A-Za-z0-9]",
     0, B, 0},
    {"generic-secret", "generic-secret",
     "(?i:api_?key|apikey|secret|token|passw(?:or)?d|access_?key|"
     "private_?key|credential)[A-Za-z0-9_\\-]{0,20}[\"']?\\s{0,4}[:=]{1,2}"
     "\\s{0,4}[\"']?[A-Za-z0-9/+_\\-]{20,80}[^A-Za-z0-9/+_\\-]",
     0, L, DLP_CHECK_ENTROPY, true},
};

const size_t dlp_builtin_count =
    sizeof(dlp_builtin_rules) / sizeof(dlp_builtin_rules[0]);

/* ---- verifiers ---- */

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool luhn(const uint8_t *d, size_t n)
{
	unsigned sum = 0, v;

	for (size_t i = 0; i < n; i++) {
		v = d[n - 1 - i];
		if (i % 2) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

/* The card number ends at win + n.  Walk back over digits and single
 * separators, then try every length 13..19 whose first digit starts a
 * group: the candidate needs a card-like first digit and a valid Luhn sum
 * (a random digit string passes one time in ten). */
static bool check_luhn(const uint8_t *win, size_t n)
{
	uint8_t dig[24];
	bool start[24] = {0};
	size_t nd = 0, i = n;

	while (i > 0 && nd < sizeof(dig)) {
		uint8_t c = win[i - 1];

		if (is_digit(c)) {
			dig[nd++] = (uint8_t)(c - '0');
			i--;
			continue;
		}
		if (nd == 0 || (c != ' ' && c != '-'))
			break;
		if (i < 2 || !is_digit(win[i - 2]))
			break;
		start[nd - 1] = true;
		i--;
	}
	if (nd > 0)
		start[nd - 1] = true;
	/* dig[] is reversed: dig[0] is the last digit. */
	for (size_t len = 13; len <= 19 && len <= nd; len++) {
		uint8_t d[19];

		if (len < nd && !start[len - 1])
			continue;
		for (size_t k = 0; k < len; k++)
			d[k] = dig[len - 1 - k];
		if (d[0] >= 2 && d[0] <= 6 && luhn(d, len))
			return true;
	}
	return false;
}

/* log2 for x >= 1 without libm: integer part by halving, then 16
 * fractional bits by repeated squaring. */
static double log2_ge1(double x)
{
	double r = 0, bit = 0.5;

	while (x >= 2) {
		x /= 2;
		r += 1;
	}
	for (int i = 0; i < 16; i++, bit /= 2) {
		x *= x;
		if (x >= 2) {
			x /= 2;
			r += bit;
		}
	}
	return r;
}

static bool is_value_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       is_digit(c) || c == '/' || c == '+' || c == '_' || c == '-';
}

/* The value ends one byte (the delimiter) before win + n.  It counts as a
 * secret when it mixes character classes with at least two digits and its
 * Shannon entropy is >= 3.5 bits per character: random tokens do, words
 * and identifiers (get_token_from_env, CHANGE_ME_PLEASE) mostly do not. */
static bool check_entropy(const uint8_t *win, size_t n)
{
	unsigned count[256] = {0};
	size_t i, len, lower = 0, upper = 0, digit = 0;
	double h;

	if (n < 2)
		return false;
	i = n - 1;
	while (i > 0 && n - 1 - i < 80 && is_value_char(win[i - 1]))
		i--;
	len = n - 1 - i;
	if (len < 20)
		return false;
	for (size_t k = i; k < n - 1; k++) {
		uint8_t c = win[k];

		count[c]++;
		lower += c >= 'a' && c <= 'z';
		upper += c >= 'A' && c <= 'Z';
		digit += is_digit(c);
	}
	if (digit < 2 || (lower == 0 && upper == 0))
		return false;
	h = log2_ge1((double)len);
	for (size_t c = 0; c < 256; c++)
		if (count[c])
			h -= count[c] * log2_ge1(count[c]) / (double)len;
	return h >= 3.5;
}

bool dlp_check_ok(enum dlp_check c, const uint8_t *win, size_t n)
{
	switch (c) {
	case DLP_CHECK_NONE:
		return true;
	case DLP_CHECK_LUHN:
		return check_luhn(win, n);
	case DLP_CHECK_ENTROPY:
		return check_entropy(win, n);
	}
	return false;
}
