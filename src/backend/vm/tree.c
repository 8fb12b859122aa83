/* The vm backend's split of the plan's setup ops, and the host-side tree.
 *
 * Under ns one kernel executes every op in plan order.  Here the host
 * builds the read-only tree first, the guest then mounts the shares and
 * executes its ops: so the split is only right when no op of one side
 * lands under or over a mount the other side makes earlier in the plan.
 * vm_layout_build() checks exactly that; plan_build()'s plans pass (the
 * guest's mounts are /dev, /proc and /tmp, the shares /workspace,
 * /home/agent and the manifest's rw mounts, whose targets may not be
 * under /dev or /proc).
 */
#include "backend/vm/tree.h"

#include "backend/mounts.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

enum side { SIDE_HOST, SIDE_GUEST, SIDE_SHARE };

/* inner is outer or a path below it. */
static bool path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	if (strcmp(outer, "/") == 0)
		return true;
	return strncmp(inner, outer, n) == 0 &&
	       (inner[n] == '\0' || inner[n] == '/');
}

static bool overlaps(const char *a, const char *b)
{
	return path_within(a, b) || path_within(b, a);
}

/* The ops that leave a new mount at their target. */
static bool op_mounts(enum setup_op_type t)
{
	return t == SETUP_TMPFS || t == SETUP_PROC || t == SETUP_DEVPTS ||
	       t == SETUP_MQUEUE || t == SETUP_DEV_BIND;
}

/* A tmpfs the plan makes read-only later is a layer it fills (/etc: the
 * generated files and the host's entries): part of the read-only tree.
 * One that stays writable is scratch space, the guest's own memory. */
static bool remounted_ro(const struct plan *p, size_t i)
{
	for (size_t j = i + 1; j < p->n_ops; j++)
		if (p->ops[j].type == SETUP_REMOUNT_RO &&
		    strcmp(p->ops[j].target, p->ops[i].target) == 0)
			return true;
	return false;
}

static int classify(const struct plan *p, size_t i, enum side *out,
		    struct error *err)
{
	const struct setup_op *op = &p->ops[i];

	*out = SIDE_HOST;
	if (op->type == SETUP_BIND) {
		*out = SIDE_SHARE;
		return 0;
	}
	if (path_within(op->target, "/dev"))
		*out = SIDE_GUEST;
	else if (op->type == SETUP_TMPFS)
		*out = strcmp(op->target, "/") != 0 && !remounted_ro(p, i)
			   ? SIDE_GUEST
			   : SIDE_HOST;
	else if (op_mounts(op->type))
		*out = SIDE_GUEST;
	if (*out == SIDE_GUEST &&
	    (op->type == SETUP_RO_BIND || op->type == SETUP_RO_BIND_DIR))
		return err_set(err, EINVAL,
			       "setup %s %s: a host path cannot be bound "
			       "under /dev in a vm bottle",
			       setup_op_type_name(op->type), op->target);
	return 0;
}

/* Does op (on side s) collide with the earlier op e that the guest mounts
 * over the host's tree (a share, or a guest mount)? */
static bool collides(const struct setup_op *op, enum side s,
		     const struct setup_op *e, enum side es)
{
	if (s == SIDE_HOST && op->type == SETUP_REMOUNT_RO &&
	    !(op->flags & SETUP_RECURSIVE))
		return strcmp(op->target, e->target) == 0;
	if (s == SIDE_SHARE)
		return es == SIDE_GUEST && overlaps(op->target, e->target);
	return s == SIDE_HOST && overlaps(op->target, e->target);
}

static bool over_tree(const struct setup_op *op, enum side s)
{
	return s == SIDE_SHARE || (s == SIDE_GUEST && op_mounts(op->type));
}

static int check_order(const struct plan *p, const enum side *side, size_t i,
		       struct error *err)
{
	const struct setup_op *op = &p->ops[i];

	for (size_t j = 0; j < i; j++) {
		const struct setup_op *e = &p->ops[j];
		if (!over_tree(e, side[j]) ||
		    !collides(op, side[i], e, side[j]))
			continue;
		return err_set(err, EINVAL,
			       "setup %s %s: overlaps %s %s, which the guest "
			       "mounts after the host's tree is built; a vm "
			       "bottle cannot keep this order",
			       setup_op_type_name(op->type), op->target,
			       setup_op_type_name(e->type), e->target);
	}
	return 0;
}

/* Whether the guest needs a mount point for op in the host's tree: not
 * when an earlier share or guest mount holds its target (in a tmpfs or a
 * share the guest makes it itself, as ns does). */
static bool needs_mountpoint(const struct plan *p, const enum side *side,
			     size_t i)
{
	if (side[i] == SIDE_GUEST && !op_mounts(p->ops[i].type))
		return false;
	for (size_t j = 0; j < i; j++)
		if (over_tree(&p->ops[j], side[j]) &&
		    path_within(p->ops[i].target, p->ops[j].target))
			return false;
	return true;
}

static void add_mountpoint(struct vm_layout *l, const struct setup_op *op)
{
	static char none[1];
	struct setup_op *m = &l->made[l->n_made++];

	m->target = op->target;
	if (op->type == SETUP_DEV_BIND) {
		m->type = SETUP_FILE;
		m->data = none;
		m->mode = 0644;
	} else {
		m->type = SETUP_DIR;
		m->mode = 0755;
	}
	l->host[l->n_host++] = m;
}

static void add_share(struct vm_layout *l, const struct setup_op *op)
{
	struct vm_share_spec *s = &l->rw[l->n_rw];

	s->tag = xasprintf("rw%zu", l->n_rw);
	s->source = xstrdup(op->source);
	s->target = xstrdup(op->target);
	s->optional = op->flags & SETUP_OPTIONAL;
	l->n_rw++;
}

int vm_layout_build(const struct plan *p, struct vm_layout *out,
		    struct error *err)
{
	struct vm_layout l = VM_LAYOUT_INIT;
	_cleanup_free_ enum side *side = NULL;
	size_t n = p->n_ops;
	int r = 0;

	*out = l;
	if (n == 0 || p->ops[0].type != SETUP_TMPFS ||
	    strcmp(p->ops[0].target, "/") != 0)
		return err_set(err, EINVAL,
			       "the plan's first setup op must be the tmpfs "
			       "on /");
	side = xcalloc(n, sizeof(*side));
	for (size_t i = 0; i < n && r == 0; i++)
		r = classify(p, i, &side[i], err);
	for (size_t i = 0; i < n && r == 0; i++)
		r = check_order(p, side, i, err);
	if (r < 0)
		return r;

	/* At most one host op per plan op: its own, or a mount point. */
	l.host = xcalloc(n, sizeof(*l.host));
	l.guest = xcalloc(n, sizeof(*l.guest));
	l.rw = xcalloc(n, sizeof(*l.rw));
	l.made = xcalloc(n, sizeof(*l.made));
	for (size_t i = 0; i < n; i++) {
		const struct setup_op *op = &p->ops[i];

		if (side[i] == SIDE_HOST)
			l.host[l.n_host++] = op;
		else if (side[i] == SIDE_GUEST)
			l.guest[l.n_guest++] = op;
		else
			add_share(&l, op);
		if (side[i] != SIDE_HOST && needs_mountpoint(p, side, i))
			add_mountpoint(&l, op);
	}
	*out = l;
	return 0;
}

void vm_layout_release(struct vm_layout *l)
{
	for (size_t i = 0; i < l->n_rw; i++) {
		free(l->rw[i].tag);
		free(l->rw[i].source);
		free(l->rw[i].target);
	}
	free(l->rw);
	free(l->host);
	free(l->guest);
	free(l->made);
	*l = (struct vm_layout)VM_LAYOUT_INIT;
}

static int build_op(const struct setup_op *op, const struct mounts_where *w,
		    struct error *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	if ((r = mounts_open_source(op, &fd, err)) < 0)
		return err_prefix(err, "setup %s %s",
				  setup_op_type_name(op->type), op->target);
	return mounts_exec(op, fd, w, err);
}

int vm_tree_build(const struct vm_layout *l, const char *root,
		  struct error *err)
{
	const struct mounts_where w = {.src = "", .dst = root};
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY |
					    MOUNT_ATTR_NOSUID |
					    MOUNT_ATTR_NODEV};
	int r;

	/* Everything else goes on that tmpfs, never into root's own
	 * filesystem, and one detach undoes it all. */
	if (l->n_host == 0 || l->host[0]->type != SETUP_TMPFS ||
	    strcmp(l->host[0]->target, "/") != 0)
		return err_set(err, EINVAL,
			       "the first host op must be the tmpfs on /");
	if ((r = build_op(l->host[0], &w, err)) < 0)
		return r;
	for (size_t i = 1; i < l->n_host; i++)
		if ((r = build_op(l->host[i], &w, err)) < 0)
			goto fail;
	/* The guest kernel is the agent's: whatever it can write here it
	 * writes on the host.  So read-only all through, not only where the
	 * plan remounts (its final "/" is not recursive). */
	if (mount_setattr(AT_FDCWD, root, AT_RECURSIVE, &ro, sizeof(ro)) < 0) {
		r = err_sys(err, errno, "making %s read-only", root);
		goto fail;
	}
	return 0;
fail:
	umount2(root, MNT_DETACH);
	return r;
}
