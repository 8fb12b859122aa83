/* The plan: everything resolved before anything starts (DESIGN.md,
 * "Lifecycle").  plan_build() is a pure function of a spec and the facts
 * gathered about the host; it touches nothing.  The plan is printed for the
 * y/N preflight and the launch consumes it and nothing else.
 *
 * The bottle's filesystem is described as data (STYLE rule 6): an ordered
 * list of typed setup operations that the ns backend executes inside the new
 * mount namespace, and that can be printed, diffed and unit-tested without
 * namespaces.
 */
#ifndef BOTTLE_PLAN_H
#define BOTTLE_PLAN_H

#include "err.h"
#include "manifest.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* The agent's identity inside every bottle. */
#define AGENT_UID      1000
#define AGENT_GID      1000
#define AGENT_USER     "agent"
#define AGENT_HOME     "/home/agent"
#define BOTTLE_WORKDIR "/workspace"
#define BOTTLE_PROBE   "/run/bottle/bottle-probe"
#define BOTTLE_PROMPT  "/run/bottle/prompt.md"
/* Where the agent's skills are copied, under its home. */
#define AGENT_SKILLS_DIR  ".claude/skills"
#define DEFAULT_TMP_SIZE  (1024ull << 20)
#define VM_MEMORY_DEFAULT (2048ull << 20)

/* The endpoints the bundle serves inside every bottle (DESIGN.md, "The one
 * network invariant"); the backend creates their listening sockets on the
 * bottle side, in this order, and hands them to the bundle. */
enum endpoint {
	ENDPOINT_PROXY = 0, /* always on */
	ENDPOINT_GIT,	    /* git-gate: on iff git upstreams are declared */
	ENDPOINT_SUPERVISE, /* MCP server: on iff supervise is enabled */
	ENDPOINT_COUNT,
};
#define PROXY_PORT     8888
#define GIT_GATE_PORT  9418
#define SUPERVISE_PORT 7777
/* Where the bottle reaches them: its own loopback (ns), or the gateway of
 * the guest's one network link (vm: the host end of its tap device). */
#define PROXY_ADDR    "127.0.0.1"
#define VM_GATEWAY    "10.0.2.1"
#define VM_GUEST_ADDR "10.0.2.2"
#define VM_NET_PREFIX 24
#define VM_LINK_NET   "10.0.2.0" /* the network of VM_GATEWAY/VM_NET_PREFIX */
/* How an agent names an upstream: the gate's URL for upstream NAME (the
 * plan's endpoint address, port, NAME). */
#define GIT_GATE_URL_FMT  "git://%s:%u/%s.git"
#define SUPERVISE_URL_FMT "http://%s:%u/mcp"
/* How long a supervise call waits for the human when the manifest names
 * no timeout, seconds. */
#define SUPERVISE_TIMEOUT_DEFAULT 600
/* The CA bundle the bottle's TLS clients use: the host's plus the
 * bundle's own CA, generated into run/ca-bundle.crt. */
#define BOTTLE_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
/* What the agent holds instead of a routed credential. */
#define PLACEHOLDER_PREFIX "bottle-placeholder-"

/* As root the agent is mapped to this unprivileged host uid/gid, never to
 * host root: a file the agent creates is owned by nobody on the host. */
#define ROOT_AGENT_HOST_ID 1879048192u

enum setup_op_type {
	SETUP_TMPFS,	   /* tmpfs at target; size bytes (0 = default), mode */
	SETUP_DIR,	   /* mkdir -p target with mode */
	SETUP_RO_BIND,	   /* source -> target, read-only, nosuid, nodev */
	SETUP_BIND,	   /* source -> target, read-write, nosuid, nodev */
	SETUP_DEV_BIND,	   /* host device node source -> target */
	SETUP_RO_BIND_DIR, /* every entry of source dir -> target dir, ro,
			    * except the names in `except` */
	SETUP_FILE,	   /* generated file: data -> target, mode */
	SETUP_SYMLINK,	   /* symlink target -> source (link text) */
	SETUP_PROC,	   /* new procfs at target, sensitive parts ro */
	SETUP_DEVPTS,	   /* new devpts instance at target */
	SETUP_MQUEUE,	   /* new mqueue fs at target */
	SETUP_REMOUNT_RO,  /* make the mount at target read-only */
};

enum setup_op_flags {
	SETUP_OPTIONAL = 1 << 0,  /* skip if the source does not exist */
	SETUP_NOEXEC = 1 << 1,	  /* mount noexec */
	SETUP_RECURSIVE = 1 << 2, /* REMOUNT_RO: the whole subtree, plus
				   * nosuid and nodev */
};

struct setup_op {
	enum setup_op_type type;
	unsigned flags;
	char *source;
	char *target;
	char *data; /* SETUP_FILE content */
	size_t data_len;
	char **except; /* SETUP_RO_BIND_DIR, NULL-terminated */
	mode_t mode;
	uint64_t size;
};

const char *setup_op_type_name(enum setup_op_type t);

enum limit_mech {
	LIMIT_NONE = 0, /* not enforced on this host */
	LIMIT_CGROUP2,
	LIMIT_CGROUP1,
	LIMIT_RLIMIT,
	LIMIT_VM, /* the guest's size: its RAM, its vCPUs */
};

const char *limit_mech_name(enum limit_mech m);

struct limit_plan {
	uint64_t value; /* 0 = no limit asked */
	enum limit_mech mech;
};

/* What plan_build() needs to know about the host.  Gathered once by
 * host_facts_gather() (impure); tests fill it by hand. */
struct host_facts {
	uid_t uid;
	gid_t gid;
	char *state_home;   /* $XDG_STATE_HOME/bottle */
	char *probe_path;   /* host path of bottle-probe, or NULL */
	char *bundle_path;  /* host path of bottle-bundle, or NULL */
	char *ca_bundle;    /* host CA bundle to expose, or NULL */
	char *usr_links[8]; /* merged-usr symlinks at /: "bin=usr/bin" */
	/* What each limit would be enforced with here. */
	enum limit_mech mem_mech, pids_mech, cpu_mech;
	/* Allowlisted host environment (may be NULL). */
	char *term, *lang, *tz;
};

void host_facts_gather(struct host_facts *h);
void host_facts_release(struct host_facts *h);

/* The resolved inputs to a launch. */
struct spec {
	const struct manifest *manifest;
	const struct agent_def *agent;
	const struct bottle_def *bottle;
	const char *id;	 /* fresh, or the identity to resume */
	const char *cwd; /* the user's working directory (absolute) */
	bool copy_cwd;
	char **cmd; /* overrides agent->command when non-NULL */
	size_t n_cmd;
	bool detach;
	/* --resolve host=addr overrides, merged over the manifest's. */
	const struct kv *resolve;
	size_t n_resolve;
};

struct plan {
	char *id;
	char *agent;
	char *bottle;
	char *backend;
	char *cwd;
	bool copy_cwd;
	bool detach;

	/* Host side. */
	char *state_dir;
	char *workspace_src; /* state_dir/workspace, or cwd when binding */
	char *home_src;	     /* state_dir/home */
	char *log_dir;	     /* state_dir/logs */
	char *run_dir;	     /* state_dir/run: sockets */
	uid_t host_uid;	     /* the agent's uid as seen on the host */
	gid_t host_gid;

	/* Inside. */
	char *hostname;
	char **argv; /* NULL-terminated */
	size_t argc;
	char **skills; /* host dirs copied into ~/AGENT_SKILLS_DIR */
	size_t n_skills;
	char **env; /* "K=V", NULL-terminated, sorted */
	size_t n_env;
	struct setup_op *ops;
	size_t n_ops;

	struct limit_plan memory, pids, cpu;
	uint64_t tmp_size;

	/* vm: the guest kernel (NULL: found at launch), the accelerator
	 * ("auto", "kvm" or "tcg") and the guest's RAM in bytes (the
	 * manifest's vm.memory, else limits.memory, else VM_MEMORY_DEFAULT). */
	char *vm_kernel;
	char *vm_accel;
	uint64_t vm_memory;

	/* The bundle: what it enforces and where it listens inside. */
	char *bundle_path;
	struct egress egress;		/* manifest's, with --resolve merged */
	uint16_t ports[ENDPOINT_COUNT]; /* 0: the endpoint is off */
	char *endpoint_addr;		/* PROXY_ADDR, or VM_GATEWAY */
	struct git_upstream *upstreams; /* git-gate's, as in the manifest */
	size_t n_upstreams;
	bool supervise;
	unsigned supervise_timeout; /* seconds; 0 = default */

	/* Things the user should know before saying yes, e.g. manifest
	 * sections this version parses but does not act on. */
	char **notes; /* NULL-terminated, or NULL */
	size_t n_notes;
};

/* Build the plan for spec on host h.  Pure: reads nothing but its
 * arguments.  0 or -EINVAL with err set (e.g. an unsupported backend or a
 * mount target that shadows a system path).  *out is new; plan_free(). */
int plan_build(const struct spec *spec, const struct host_facts *h,
	       struct plan **out, struct error *err)
    __attribute__((warn_unused_result));

void plan_free(struct plan *p);

/* Human-readable plan for the y/N preflight. */
void plan_print(const struct plan *p, FILE *f);

/* The listeners travel between processes (SCM_RIGHTS) as the fds of the
 * endpoints that are on, in enum order: n of them.  Spread them out into
 * an array indexed by endpoint (-1 for off): 0, or -1 when n is not what
 * the ports say. */
int endpoints_unpack(const uint16_t ports[ENDPOINT_COUNT], const int *in,
		     size_t n, int fds[ENDPOINT_COUNT]);

/* The value of NAME in the plan's env, or NULL. */
const char *plan_getenv(const struct plan *p, const char *name);

#endif
