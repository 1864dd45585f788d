/*
 * tests/fuzz/replay.c - main() for the fuzz targets in builds without
 * libFuzzer (any compiler): runs LLVMFuzzerTestOneInput once on every file
 * named on the command line and on every file of every directory named
 * there (not recursive, dot files skipped, in name order), so ctest replays
 * the corpus on every run, under ASan or valgrind.
 *
 *   fuzz_frame_replay tests/fuzz/corpus/frame [more files or dirs]
 *
 * Arguments starting with '-' are libFuzzer options and are ignored.
 * Exits 0 after running at least one input; 1 if an argument cannot be
 * read or nothing was run. A failing input aborts inside the target, after
 * its name was printed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one file; the target sees a buffer of exactly its size. */
static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf;
    size_t size;

    if (f == NULL || fstat(fileno(f), &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        goto out_close;
    }
    size = (size_t)st.st_size;
    buf = malloc(size ? size : 1);
    if (buf == NULL || fread(buf, 1, size, f) != size) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        free(buf);
        goto out_close;
    }
    fclose(f);
    printf("replay: %s (%zu bytes)\n", path, size);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
    return 0;
out_close:
    if (f != NULL) {
        fclose(f);
    }
    return -1;
}

static int
skip_dot_files(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Run every regular file of dir; count them in *runs. */
static int
run_dir(const char *dir, size_t *runs)
{
    struct dirent **names;
    char path[4096];
    struct stat st;
    int n = scandir(dir, &names, skip_dot_files, alphasort);
    int rc = 0;

    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = run_file(path);
            *runs += rc == 0;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int
main(int argc, char **argv)
{
    size_t runs = 0;
    struct stat st;

    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            continue;
        }
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], &runs) < 0) {
                return 1;
            }
        } else if (run_file(argv[i]) < 0) {
            return 1;
        } else {
            runs++;
        }
    }
    if (runs == 0) {
        fprintf(stderr, "replay: no inputs given\n");
        return 1;
    }
    printf("replay: %zu inputs, all passed\n", runs);
    return 0;
}
