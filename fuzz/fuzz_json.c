/* libFuzzer harness for the JSON parser: parse; if the input is accepted,
 * write the tree back (compact and pretty) and require that both outputs
 * parse again to an equal tree. */
#include "lib/json.h"
#include "lib/log.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Equal as data: numbers compare as doubles (the writer may change the
 * spelling, e.g. 2.5e1 -> 25, but reads back the same double), and as
 * integers when both are exact int64s. */
static bool equal(const struct json_value *a, const struct json_value *b)
{
	const char *sa, *sb;
	size_t la, lb, i;
	int64_t ia, ib;
	double da, db;
	bool ba, bb;

	if (json_type(a) != json_type(b))
		return false;
	switch (json_type(a)) {
	case JSON_NONE:
	case JSON_NULL:
		return true;
	case JSON_BOOL:
		return json_as_bool(a, &ba) == 0 && json_as_bool(b, &bb) == 0 &&
		       ba == bb;
	case JSON_NUMBER:
		if (json_as_double(a, &da) < 0 || json_as_double(b, &db) < 0 ||
		    da != db)
			return false;
		if (json_as_int64(a, &ia) == 0 && json_as_int64(b, &ib) == 0)
			return ia == ib;
		return true;
	case JSON_STRING:
		sa = json_as_string(a, &la);
		sb = json_as_string(b, &lb);
		return la == lb && memcmp(sa, sb, la) == 0;
	case JSON_ARRAY:
		if (json_array_len(a) != json_array_len(b))
			return false;
		for (i = 0; i < json_array_len(a); i++)
			if (!equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	case JSON_OBJECT:
		if (json_obj_len(a) != json_obj_len(b))
			return false;
		for (i = 0; i < json_obj_len(a); i++) {
			sa = json_obj_key(a, i, &la);
			sb = json_obj_key(b, i, &lb);
			if (la != lb || memcmp(sa, sb, la) != 0 ||
			    !equal(json_obj_value(a, i), json_obj_value(b, i)))
				return false;
		}
		return true;
	}
	return false;
}

static void check_round_trip(const struct json_value *v,
			     enum json_writer_flags flags)
{
	struct error err = ERROR_INIT;
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	struct json_value *v2;

	json_writer_init(&w, &sb, flags);
	json_writer_value(&w, v);
	if (json_parse(sb.buf, sb.len, &v2, &err) < 0)
		BUG("re-parse of writer output failed: %s", err.msg);
	if (!equal(v, v2))
		BUG("writer output reads back different: %s", sb.buf);
	json_value_free(v2);
	strbuf_release(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err = ERROR_INIT;
	struct json_value *v;

	if (json_parse((const char *)data, size, &v, &err) < 0)
		return 0;
	check_round_trip(v, 0);
	check_round_trip(v, JSON_WRITER_PRETTY);
	json_value_free(v);
	return 0;
}
