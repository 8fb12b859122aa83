/* The supervise queue on disk.  See superq.h. */
#include "lib/superq.h"

#include "lib/fsutil.h"
#include "lib/json.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char id_alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";

static const char *const verdict_names[] = {
    [SUPERQ_PENDING] = "pending", [SUPERQ_APPROVED] = "approved",
    [SUPERQ_DENIED] = "denied",	  [SUPERQ_ANSWERED] = "answered",
    [SUPERQ_EXPIRED] = "expired",
};

const char *superq_verdict_name(enum superq_verdict v)
{
	return (unsigned)v < ARRAY_SIZE(verdict_names) ? verdict_names[v] : "?";
}

static int verdict_parse(const char *s, enum superq_verdict *v)
{
	for (size_t i = SUPERQ_APPROVED; s && i < ARRAY_SIZE(verdict_names);
	     i++) {
		if (strcmp(s, verdict_names[i]) == 0) {
			*v = (enum superq_verdict)i;
			return 0;
		}
	}
	return -EINVAL;
}

void superq_req_release(struct superq_req *r)
{
	free(r->bottle);
	free(r->tool);
	free(r->args);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

char *superq_dir(const char *state_dir)
{
	return xasprintf("%s/supervise", state_dir);
}

bool superq_id_valid(const char *s)
{
	size_t n = strspn(s, id_alphabet);

	return n == SUPERQ_ID_LEN && s[n] == '\0';
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void new_id(char id[SUPERQ_ID_LEN + 1])
{
	unsigned char rnd[SUPERQ_ID_LEN];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(now_ns() >> (i * 5));
	for (size_t i = 0; i < SUPERQ_ID_LEN; i++)
		id[i] = id_alphabet[rnd[i] % 32];
	id[SUPERQ_ID_LEN] = '\0';
}

/* Write data to a fresh temp file in dir and link it to dir/name: the file
 * appears whole, and only if name did not exist (-EEXIST otherwise).  The
 * temp name is unique per process and call, so concurrent writers (the
 * bundle expiring, the CLI answering) never share one. */
static int publish(const char *dir, const char *name, const char *data,
		   size_t len, struct error *err)
{
	static unsigned seq;
	_cleanup_free_ char *tmp =
	    xasprintf("%s/.%s.%d.%u.tmp", dir, name, (int)getpid(), seq++);
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	int fd, r = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return err_sys(err, errno, "creating %s", tmp);
	if ((r = write_all(fd, data, len)) < 0)
		err_sys(err, -r, "writing %s", tmp);
	if (close(fd) < 0 && r == 0)
		r = err_sys(err, errno, "writing %s", tmp);
	if (r == 0 && link(tmp, path) < 0)
		r = errno == EEXIST ? -EEXIST
				    : err_sys(err, errno, "creating %s", path);
	unlink(tmp);
	return r;
}

int superq_submit(const char *dir, const char *bottle, const char *tool,
		  const char *args, struct superq_req *out, struct error *err)
{
	struct json_value *parsed = NULL;
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	char name[SUPERQ_ID_LEN + 8];
	int r;

	memset(out, 0, sizeof(*out));
	if (json_parse(args, strlen(args), &parsed, err) < 0 ||
	    json_type(parsed) != JSON_OBJECT) {
		json_value_free(parsed);
		return err_set(err, EINVAL,
			       "request arguments: expected a "
			       "JSON object");
	}
	if ((r = mkdir_p(dir, 0700, err)) < 0) {
		json_value_free(parsed);
		return r;
	}
	out->bottle = xstrdup(bottle);
	out->tool = xstrdup(tool);
	out->created = now_ms();
	json_writer_init(&w, &sb, 0);
	json_writer_value(&w, parsed);
	out->args = strbuf_detach(&sb, NULL);
	do { /* a clash of 40 random bits is unlikely, but not an error */
		new_id(out->id);
		snprintf(name, sizeof(name), "%s.req", out->id);
		json_writer_init(&w, &sb, 0);
		json_writer_begin_object(&w);
		json_writer_kv_string(&w, "id", out->id);
		json_writer_kv_string(&w, "bottle", bottle);
		json_writer_kv_string(&w, "tool", tool);
		json_writer_key(&w, "args");
		json_writer_value(&w, parsed);
		json_writer_kv_int64(&w, "created", out->created);
		json_writer_end_object(&w);
		strbuf_addch(&sb, '\n');
		r = publish(dir, name, sb.buf, sb.len, err);
		strbuf_reset(&sb);
	} while (r == -EEXIST);
	strbuf_release(&sb);
	json_value_free(parsed);
	if (r < 0)
		superq_req_release(out);
	return r;
}

/* Parse dir/<id><ext> (bounded) into *v.  -ENOENT if it is missing. */
static int load_json(const char *dir, const char *id, const char *ext,
		     struct json_value **v, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s%s", dir, id, ext);
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r;

	*v = NULL;
	if ((r = read_file(path, &data, &len, SUPERQ_FILE_MAX, err)) < 0)
		return r;
	if ((r = json_parse(data, len, v, err)) < 0 ||
	    json_type(*v) != JSON_OBJECT) {
		json_value_free(*v);
		*v = NULL;
		return err_set(err, EINVAL, "%s: malformed", path);
	}
	return 0;
}

static int load_answer(const char *dir, struct superq_req *r, struct error *err)
{
	struct json_value *v;
	int ret = load_json(dir, r->id, ".ans", &v, err);

	if (ret == -ENOENT) {
		err_clear(err);
		return 0;
	}
	if (ret < 0)
		return ret;
	if (verdict_parse(json_as_string(json_obj_get(v, "verdict"), NULL),
			  &r->verdict) < 0) {
		json_value_free(v);
		return err_set(err, EINVAL, "%s/%s.ans: no verdict", dir,
			       r->id);
	}
	r->text = json_obj_strdup(v, "text");
	r->answered = json_obj_int64(v, "time");
	json_value_free(v);
	return 0;
}

int superq_load(const char *dir, const char *id, struct superq_req *out,
		struct error *err)
{
	_cleanup_free_ char *done = NULL;
	struct json_value *v;
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	const struct json_value *args;
	int r;

	memset(out, 0, sizeof(*out));
	if (!superq_id_valid(id))
		return err_set(err, ENOENT, "no request \"%s\"", id);
	if ((r = load_json(dir, id, ".req", &v, err)) < 0)
		return r == -ENOENT ? err_set(err, ENOENT, "no request %s", id)
				    : r;
	args = json_obj_get(v, "args");
	if (json_type(args) != JSON_OBJECT ||
	    !json_as_string(json_obj_get(v, "tool"), NULL)) {
		json_value_free(v);
		return err_set(err, EINVAL, "%s/%s.req: malformed", dir, id);
	}
	memcpy(out->id, id, sizeof(out->id));
	out->bottle = json_obj_strdup(v, "bottle");
	out->tool = json_obj_strdup(v, "tool");
	out->created = json_obj_int64(v, "created");
	json_writer_init(&w, &sb, 0);
	json_writer_value(&w, args);
	out->args = strbuf_detach(&sb, NULL);
	json_value_free(v);
	if (!out->bottle)
		out->bottle = xstrdup("");
	if ((r = load_answer(dir, out, err)) < 0) {
		superq_req_release(out);
		return r;
	}
	done = xasprintf("%s/%s.done", dir, id);
	out->delivered = access(done, F_OK) == 0;
	return 0;
}

static int cmp_req(const void *a, const void *b)
{
	const struct superq_req *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

int superq_list(const char *dir, struct superq_req **v, size_t *n,
		struct error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct superq_req *out = NULL;
	size_t k = 0, alloc = 0;

	*v = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0
				       : err_sys(err, errno, "opening %s", dir);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char id[SUPERQ_ID_LEN + 1];
		struct error ignored = ERROR_INIT;

		if (len != SUPERQ_ID_LEN + 4 ||
		    strcmp(e->d_name + SUPERQ_ID_LEN, ".req") != 0)
			continue;
		memcpy(id, e->d_name, SUPERQ_ID_LEN);
		id[SUPERQ_ID_LEN] = '\0';
		ALLOC_GROW(out, k + 1, alloc);
		if (superq_load(dir, id, &out[k], &ignored) == 0)
			k++;
	}
	closedir(d);
	if (k)
		qsort(out, k, sizeof(*out), cmp_req);
	*v = out;
	*n = k;
	return 0;
}

void superq_list_free(struct superq_req *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		superq_req_release(&v[i]);
	free(v);
}

int superq_answer(const char *dir, const char *id, enum superq_verdict v,
		  const char *text, struct error *err)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	struct superq_req cur;
	char name[SUPERQ_ID_LEN + 8], when[32];
	int r;

	if (v == SUPERQ_PENDING || (unsigned)v >= ARRAY_SIZE(verdict_names))
		return err_set(err, EINVAL, "not a verdict");
	if (text && strlen(text) > SUPERQ_TEXT_MAX)
		return err_set(err, EMSGSIZE, "the answer is over %u bytes",
			       SUPERQ_TEXT_MAX);
	if ((r = superq_load(dir, id, &cur, err)) < 0)
		return r;
	if (cur.verdict == SUPERQ_PENDING) {
		snprintf(name, sizeof(name), "%s.ans", id);
		json_writer_init(&w, &sb, 0);
		json_writer_begin_object(&w);
		json_writer_kv_string(&w, "verdict", superq_verdict_name(v));
		if (text)
			json_writer_kv_string(&w, "text", text);
		json_writer_kv_int64(&w, "time", now_ms());
		json_writer_end_object(&w);
		strbuf_addch(&sb, '\n');
		r = publish(dir, name, sb.buf, sb.len, err);
		strbuf_release(&sb);
		if (r != -EEXIST) {
			superq_req_release(&cur);
			return r;
		}
		/* Somebody else won between our load and our link. */
		superq_req_release(&cur);
		if ((r = superq_load(dir, id, &cur, err)) < 0)
			return r;
	}
	format_age(when, sizeof(when), (now_ms() - cur.answered) / 1000);
	r = err_set(err, EALREADY, "request %s is already %s (%s ago)", id,
		    superq_verdict_name(cur.verdict), when);
	superq_req_release(&cur);
	return r;
}

int superq_mark_delivered(const char *dir, const char *id, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s.done", dir, id);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0 && errno != EEXIST)
		return err_sys(err, errno, "creating %s", path);
	if (fd >= 0)
		close(fd);
	return 0;
}

int superq_report(const char *dir, const char *bottle, const char *message,
		  struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/reports.jsonl", dir);
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	struct stat st;
	int fd, r;

	if ((r = mkdir_p(dir, 0700, err)) < 0)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return err_sys(err, errno, "opening %s", path);
	if (fstat(fd, &st) == 0 && st.st_size >= SUPERQ_REPORTS_MAX) {
		close(fd);
		return err_set(err, ENOSPC, "%s: full (%u bytes)", path,
			       SUPERQ_REPORTS_MAX);
	}
	json_writer_init(&w, &sb, 0);
	json_writer_begin_object(&w);
	json_writer_kv_int64(&w, "time", now_ms());
	json_writer_kv_string(&w, "bottle", bottle);
	json_writer_kv_string(&w, "message", message);
	json_writer_end_object(&w);
	strbuf_addch(&sb, '\n');
	/* One write of one line with O_APPEND: lines never interleave. */
	if ((r = write_all(fd, sb.buf, sb.len)) < 0)
		err_sys(err, -r, "writing %s", path);
	close(fd);
	strbuf_release(&sb);
	return r;
}

int superq_reports(const char *dir,
		   void (*fn)(int64_t time, const char *bottle,
			      const char *message, void *ctx),
		   void *ctx, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/reports.jsonl", dir);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t alloc = 0;
	ssize_t len;

	if (!f)
		return errno == ENOENT
			   ? 0
			   : err_sys(err, errno, "opening %s", path);
	while ((len = getline(&line, &alloc, f)) > 0) {
		struct json_value *v = NULL;
		struct error ignored = ERROR_INIT;
		const char *msg, *bottle;

		if ((size_t)len > SUPERQ_FILE_MAX ||
		    json_parse(line, (size_t)len, &v, &ignored) < 0)
			continue;
		msg = json_as_string(json_obj_get(v, "message"), NULL);
		bottle = json_as_string(json_obj_get(v, "bottle"), NULL);
		if (msg)
			fn(json_obj_int64(v, "time"), bottle ? bottle : "", msg,
			   ctx);
		json_value_free(v);
	}
	return 0;
}

char *superq_arg(const char *args, const char *key)
{
	struct json_value *v = NULL;
	struct error err = ERROR_INIT;
	char *s;

	if (!args || json_parse(args, strlen(args), &v, &err) < 0)
		return NULL;
	s = json_obj_strdup(v, key);
	json_value_free(v);
	return s;
}
