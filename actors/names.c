/*
 * actors/names.c - the name registry: a name maps to one live actor and
 * dies with it.
 */
#include "actors/rt.h"

#include "base/alloc.h"
#include "base/error.h"

#define NAME_MAX_LEN 63

typedef struct name_ent {
    struct name_ent *next;
    ax_actor *actor;
    char name[NAME_MAX_LEN + 1];
} name_ent;

static name_ent **buckets;
static size_t nbuckets, nnames;

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

int
ax__names_add(const char *name, ax_actor *a)
{
    name_ent *e;
    size_t b;
    int rc = check_name(name);

    if (rc < 0) {
        return rc;
    }
    if (a->name != NULL || find(name) != NULL) {
        return ax__fail(AX_EEXIST,
                        "name \"%s\" is taken (or the actor "
                        "has a name)",
                        name);
    }
    if (nnames >= nbuckets && grow() < 0) {
        return AX_ENOMEM;
    }
    e = ax__alloc(sizeof(*e));
    if (e == NULL) {
        return AX_ENOMEM;
    }
    strcpy(e->name, name);
    e->actor = a;
    b = hash(name) % nbuckets;
    e->next = buckets[b];
    buckets[b] = e;
    a->name = e->name;
    nnames++;
    return 0;
}

int
ax_register(const char *name, ax_pid pid)
{
    ax_actor *a;
    int rc;

    AX_REQUIRE(ax__rt_up, "ax_register before ax_init");
    rc = check_name(name);
    if (rc < 0) {
        return rc;
    }
    a = ax__lookup(pid);
    if (a == NULL || a->dying) {
        return ax__fail(AX_ESRCH, "ax_register: no such actor");
    }
    return ax__names_add(name, a);
}

int
ax_whereis(const char *name, ax_pid *out)
{
    name_ent **pp;

    AX_REQUIRE(ax__rt_up && name != NULL, "ax_whereis: no runtime or name");
    pp = find(name);
    if (pp == NULL) {
        return ax__fail(AX_ENOENT, "no actor is named \"%s\"", name);
    }
    if (out != NULL) {
        *out = ax__pid_of((*pp)->actor);
    }
    return 0;
}

static void
remove_ent(name_ent **pp)
{
    name_ent *e = *pp;

    *pp = e->next;
    e->actor->name = NULL;
    ax__free(e);
    nnames--;
}

int
ax_unregister(const char *name)
{
    name_ent **pp;

    AX_REQUIRE(ax__rt_up && name != NULL, "ax_unregister: NULL name");
    pp = find(name);
    if (pp == NULL) {
        return ax__fail(AX_ENOENT, "no actor is named \"%s\"", name);
    }
    remove_ent(pp);
    return 0;
}

void
ax__names_release(ax_actor *a)
{
    if (a->name != NULL) {
        remove_ent(find(a->name));
    }
}

void
ax__names_fini(void)
{
    for (size_t i = 0; i < nbuckets; i++) {
        while (buckets[i] != NULL) {
            remove_ent(&buckets[i]);
        }
    }
    ax__free(buckets);
    buckets = NULL;
    nbuckets = nnames = 0;
}
