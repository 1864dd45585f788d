/*
 * actors/names/names.c - the name registry: a name maps to one live actor, in
 * any process, and dies with it.
 *
 * The registry lives in the root process. Other processes ask it with a
 * request frame to the address {0, 0}, which every process passes up to
 * its parent, and wait for the reply: so in a process actor's process,
 * ax_register, ax_whereis and ax_unregister take a round trip (they may
 * yield). The registry watches every named actor of another process with
 * a monitor of its own (watcher address {root, 0}); the DOWN, or the
 * actor's process going down, removes the name.
 */
#include "actors/names/names.h"

#include "base/alloc.h"
#include "base/endian.h"
#include "base/error.h"

#define NAME_MAX_LEN 63

typedef struct name_ent {
    struct name_ent *next;
    ax_pid pid;
    ax_actor *actor; /* the local actor, or NULL (another process's) */
    uint64_t mref;   /* the registry's monitor of that actor */
    char name[NAME_MAX_LEN + 1];
} name_ent;

static name_ent **buckets;
static size_t nbuckets, nnames;

static ax_rt *const rt = &ax__rt;

static size_t
hash(const char *s)
{
    size_t h = 14695981039346656037u;

    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    }
    return h;
}

static name_ent **
find(const char *name)
{
    name_ent **pp;

    if (nbuckets == 0) {
        return NULL;
    }
    for (pp = &buckets[hash(name) % nbuckets]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            return pp;
        }
    }
    return NULL;
}

static int
grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 64;
    name_ent **nb = ax__calloc(n, sizeof(*nb));

    if (nb == NULL) {
        return AX_ENOMEM;
    }
    for (size_t i = 0; i < nbuckets; i++) {
        name_ent *e, *next;

        for (e = buckets[i]; e != NULL; e = next) {
            next = e->next;
            e->next = nb[hash(e->name) % n];
            nb[hash(e->name) % n] = e;
        }
    }
    ax__free(buckets);
    buckets = nb;
    nbuckets = n;
    return 0;
}

static int
check_name(const char *name)
{
    size_t len;

    AX_REQUIRE(name != NULL, "actor name is NULL");
    len = strlen(name);
    if (len == 0) {
        return ax__fail(AX_EINVAL, "empty actor name");
    }
    if (len > NAME_MAX_LEN) {
        return ax__fail(AX_ENAMETOOLONG, "actor name over %d bytes",
                        NAME_MAX_LEN);
    }
    return 0;
}

/* The registry's own address: the monitors it holds come back to it. */
static ax_pid
registry_pid(void)
{
    return (ax_pid){rt->node, 0};
}

static void
registry_monitor(int kind, ax_pid pid, uint64_t ref)
{
    ax_msg *m = NULL;

    if (kind == K_MONITOR) {
        ax_msg_pack(&m, "[u b]", ref, 0);
    } else {
        ax_msg_pack(&m, "[u]", ref);
    }
    if (m != NULL) {
        ax__send_control(kind, pid, registry_pid(), m);
    }
}

/* --- the table (in the root process) ------------------------------------ */

static int
table_add(const char *name, ax_pid pid)
{
    ax_actor *a = ax__lookup(pid);
    ax_exit_info gone;
    name_ent *e;
    size_t b;

    if (find(name) != NULL || (a != NULL && a->name != NULL)) {
        return ax__fail(AX_EEXIST,
                        "name \"%s\" is taken (or the actor "
                        "has a name)",
                        name);
    }
    if ((a == NULL || a->dying) &&
        (a != NULL || ax__route(pid) == NULL || ax__remote_gone(pid, &gone))) {
        return ax__fail(AX_ESRCH, "ax_register: no such actor");
    }
    if (nnames >= nbuckets && grow() < 0) {
        return AX_ENOMEM;
    }
    e = ax__calloc(1, sizeof(*e));
    if (e == NULL) {
        return AX_ENOMEM;
    }
    strcpy(e->name, name);
    e->pid = pid;
    e->actor = a;
    if (a != NULL) {
        a->name = e->name;
    } else {
        e->mref = ax__new_ref();
        registry_monitor(K_MONITOR, pid, e->mref);
    }
    b = hash(name) % nbuckets;
    e->next = buckets[b];
    buckets[b] = e;
    nnames++;
    return 0;
}

static void
remove_ent(name_ent **pp, bool tell)
{
    name_ent *e = *pp;

    *pp = e->next;
    if (e->actor != NULL) {
        e->actor->name = NULL;
    } else if (tell) {
        registry_monitor(K_DEMONITOR, e->pid, e->mref);
    }
    ax__free(e);
    nnames--;
}

/* Remove every name whose actor matches (pid, or any actor of node). */
static void
remove_matching(uint64_t node, const ax_pid *pid)
{
    for (size_t i = 0; i < nbuckets; i++) {
        for (name_ent **pp = &buckets[i]; *pp != NULL;) {
            ax_pid p = (*pp)->pid;

            if ((*pp)->actor == NULL &&
                (pid ? ax_pid_equal(p, *pid) : p.node == node)) {
                remove_ent(pp, false);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

static void
names_gone(ax_pid pid)
{
    remove_matching(0, &pid);
}

static void
names_node_down(uint64_t node, const ax_pid *pid)
{
    remove_matching(node, pid);
}

/* a moves to another process (promotion): its name now points there. */
void
ax__names_moved(ax_actor *a)
{
    name_ent **pp = a->name != NULL ? find(a->name) : NULL;

    if (pp != NULL) {
        (*pp)->actor = NULL;
        (*pp)->mref = ax__new_ref();
        a->name = NULL;
        registry_monitor(K_MONITOR, (*pp)->pid, (*pp)->mref);
    }
}

/* a ends: its name goes (core's ending hook). */
static void
names_release(ax_actor *a)
{
    if (a->name != NULL) {
        remove_ent(find(a->name), false);
    }
}

/* --- asking the root from another process -------------------------------- */

static bool
remote_registry(void)
{
    return ax__net.parent != NULL;
}

/* op ("reg", "unreg", "where") name pid at the root; *out: the answer's
 * pid. Waits for the reply. */
static int
registry_call(const char *op, const char *name, ax_pid pid, ax_pid *out)
{
    ax_actor *a = rt->current;
    uint64_t ref = ax__new_ref();
    ax_msg *m, *reply;
    int rc, answer;

    if (a == NULL) {
        return ax__fail(AX_EAGAIN, "names: outside an actor in a process "
                                   "actor's process the root cannot be "
                                   "asked");
    }
    rc = ax_msg_pack(&m, "[s s p]", op, name, pid);
    if (rc < 0) {
        return rc;
    }
    m->kind = MSG_CALL;
    m->ref = ref;
    m->from = ax__pid_of(a);
    a->call_ref = ref;
    ax__send_remote((ax_pid){0, 0}, m, false);
    rc = ax__recv_reply(a, ref, &reply, AX_FOREVER);
    a->call_ref = 0;
    if (rc < 0) {
        return rc;
    }
    rc = ax_msg_unpack(reply, "[d p]", &answer, out);
    ax_msg_free(reply);
    return rc < 0       ? rc
           : answer < 0 ? ax__fail(answer, "names: %s \"%s\": %s", op, name,
                                   ax_strerror(answer))
                        : 0;
}

/* The root's side: a request frame from another process. */
static void
registry_frame(const ax_frame *f)
{
    ax_msg *req, *reply = NULL;
    const char *op, *name;
    size_t oplen, nlen;
    char key[NAME_MAX_LEN + 1];
    ax_pid pid, found = AX_PID_NONE;
    int rc;

    if (f->hdr.kind != K_CALL || f->len < 8 ||
        ax_msg_from_bytes(&req, (const uint8_t *)f->body + 8, f->len - 8) < 0) {
        return;
    }
    rc = ax_msg_unpack(req, "[s s p]", &op, &oplen, &name, &nlen, &pid);
    if (rc == 0 && (nlen == 0 || nlen > NAME_MAX_LEN)) {
        rc = nlen == 0 ? AX_EINVAL : AX_ENAMETOOLONG;
    }
    if (rc == 0) {
        memcpy(key, name, nlen);
        key[nlen] = '\0';
        rc = oplen == 3 && memcmp(op, "reg", 3) == 0 ? table_add(key, pid)
             : oplen == 5 && memcmp(op, "unreg", 5) == 0
                 ? ax_unregister(key)
                 : ax_whereis(key, &found);
    }
    ax_msg_free(req);
    if (ax_msg_pack(&reply, "[d p]", rc, found) == 0) {
        reply->kind = MSG_REPLY;
        reply->ref = ax__load64(f->body);
        reply->from = (ax_pid){0, 0};
        ax__send_remote(f->hdr.src, reply, false);
    }
}

/* --- the API ------------------------------------------------------------ */

int
ax__names_add(const char *name, ax_actor *a)
{
    int rc = check_name(name);

    if (rc < 0) {
        return rc;
    }
    if (remote_registry()) {
        ax_pid ignored;

        return registry_call("reg", name, ax__pid_of(a), &ignored);
    }
    return table_add(name, ax__pid_of(a));
}

int
ax_register(const char *name, ax_pid pid)
{
    ax_pid ignored;
    int rc;

    AX_REQUIRE(ax__rt_up, "ax_register before ax_init");
    rc = check_name(name);
    if (rc < 0) {
        return rc;
    }
    return remote_registry() ? registry_call("reg", name, pid, &ignored)
                             : table_add(name, pid);
}

int
ax_whereis(const char *name, ax_pid *out)
{
    name_ent **pp;
    ax_pid found;
    int rc;

    AX_REQUIRE(ax__rt_up && name != NULL, "ax_whereis: no runtime or name");
    if (remote_registry()) {
        rc = registry_call("where", name, AX_PID_NONE, &found);
        if (rc == 0 && out != NULL) {
            *out = found;
        }
        return rc;
    }
    pp = find(name);
    if (pp == NULL) {
        return ax__fail(AX_ENOENT, "no actor is named \"%s\"", name);
    }
    if (out != NULL) {
        *out = (*pp)->pid;
    }
    return 0;
}

int
ax_unregister(const char *name)
{
    name_ent **pp;
    ax_pid ignored;

    AX_REQUIRE(ax__rt_up && name != NULL, "ax_unregister: NULL name");
    if (remote_registry()) {
        return registry_call("unreg", name, AX_PID_NONE, &ignored);
    }
    pp = find(name);
    if (pp == NULL) {
        return ax__fail(AX_ENOENT, "no actor is named \"%s\"", name);
    }
    remove_ent(pp, true);
    return 0;
}

void
ax__names_fini(void)
{
    for (size_t i = 0; i < nbuckets; i++) {
        while (buckets[i] != NULL) {
            remove_ent(&buckets[i], false);
        }
    }
    ax__free(buckets);
    buckets = NULL;
    nbuckets = nnames = 0;
}

/* In a forked child: the inherited names, freed without touching actors. */
void
ax__names_forget(void)
{
    ax__forsake(buckets); /* the entries hang from it */
    buckets = NULL;
    nbuckets = nnames = 0;
}

void
ax__names_init(void)
{
    ax__core_on_end(ax__core_hooks.ending, names_release);
    ax__route_hooks.registry_frame = registry_frame;
    ax__route_hooks.registry_down = names_gone;
    ax__route_hooks.node_down = names_node_down;
}
