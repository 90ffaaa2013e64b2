/*
 * test_spool.c - the durable spool: what goes in comes out whole, in
 * arrival order, and nothing half-written or rejected is lost or resent by
 * accident.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "spool.h"

struct fixture {
    char root[64];
    char dir[128];
};

/* rm_rf - remove DIR and everything in it (two levels suffice here) */
static void rm_rf(const char *dir)
{
    char path[512];
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            rm_rf(path);
    }
    closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/tw-spool-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s/spool", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rm_rf(f->root);
    free(f);
    return 0;
}

/* put_str - store S as one item made of two pieces */
static void put_str(struct tw_spool *sp, const char *s, char *name)
{
    size_t n = strlen(s), half = n / 2;
    struct iovec iov[2] = {{(void *)s, half}, {(void *)(s + half), n - half}};
    assert_int_equal(tw_spool_put(sp, iov, 2, name), TW_OK);
}

/* exists - whether SUB/NAME exists under the spool */
static int exists(const struct fixture *f, const char *sub, const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/%.500s", f->dir, sub, name);
    return stat(path, &st) == 0;
}

static void test_put_list_read_remove(void **state)
{
    struct fixture *f = *state;
    struct tw_spool *sp = tw_spool_open(f->dir);
    assert_non_null(sp);
    assert_string_equal(tw_spool_dir(sp), f->dir);
    assert_int_equal(tw_spool_count(sp), 0);

    char n1[TW_SPOOL_NAME_MAX], n2[TW_SPOOL_NAME_MAX];
    put_str(sp, "first item", n1);
    put_str(sp, "second item", n2);
    assert_true(exists(f, "new", n1));
    assert_false(exists(f, "tmp", n1));
    assert_int_equal(tw_spool_count(sp), 2);

    char **names = NULL;
    assert_int_equal(tw_spool_list(sp, 0, &names), 2);
    assert_string_equal(names[0], n1);
    assert_string_equal(names[1], n2);
    assert_null(names[2]);
    tw_spool_names_free(&names);
    assert_null(names);

    char *data = NULL;
    size_t len = 0;
    assert_int_equal(tw_spool_read(sp, n2, &data, &len, 1024), TW_OK);
    assert_int_equal(len, 11);
    assert_string_equal(data, "second item");
    free(data);

    assert_int_equal(tw_spool_remove(sp, n1), TW_OK);
    assert_int_equal(tw_spool_remove(sp, n1), TW_OK); /* at-least-once */
    assert_int_equal(tw_spool_read(sp, n1, &data, &len, 1024), TW_PERMFAIL);
    assert_null(data);
    assert_int_equal(tw_spool_count(sp), 1);

    /* An empty item is an item. */
    struct iovec none = {NULL, 0};
    char n3[TW_SPOOL_NAME_MAX];
    assert_int_equal(tw_spool_put(sp, &none, 1, n3), TW_OK);
    assert_int_equal(tw_spool_read(sp, n3, &data, &len, 10), TW_OK);
    assert_int_equal(len, 0);
    assert_string_equal(data, "");
    free(data);

    /* Names never reach outside the spool. */
    assert_int_equal(tw_spool_read(sp, "../x", &data, &len, 10), TW_PERMFAIL);
    assert_int_equal(tw_spool_remove(sp, "../new"), TW_PERMFAIL);
    tw_spool_close(&sp);
    assert_null(sp);
    tw_spool_close(&sp);
}

static void test_names_unique_and_sorted(void **state)
{
    struct fixture *f = *state;
    struct tw_spool *a = tw_spool_open(f->dir);
    struct tw_spool *b = tw_spool_open(f->dir); /* same process, 2 spools */
    assert_non_null(a);
    assert_non_null(b);
    enum { N = 200 };
    static char made[N][TW_SPOOL_NAME_MAX];
    for (int i = 0; i < N; i++)
        put_str(i % 2 ? a : b, "x", made[i]);
    char **names = NULL;
    assert_int_equal(tw_spool_list(a, 0, &names), N);
    for (int i = 0; i < N; i++) {
        /* Listed in the order they were put, each name once. */
        assert_string_equal(names[i], made[i]);
        if (i)
            assert_true(strcmp(names[i - 1], names[i]) < 0);
        /* "<10-digit sec>.<6-digit usec>.<pid>_<n>.<host>" */
        assert_int_equal(names[i][10], '.');
        assert_int_equal(names[i][17], '.');
        assert_non_null(strchr(names[i], '_'));
        assert_null(strchr(names[i], '/'));
        assert_null(strchr(names[i], ':'));
    }
    tw_spool_names_free(&names);

    assert_int_equal(tw_spool_list(a, 5, &names), 5);
    assert_string_equal(names[4], made[4]);
    assert_null(names[5]);
    tw_spool_names_free(&names);
    tw_spool_close(&a);
    tw_spool_close(&b);
}

static void test_stale_tmp_removed_on_open(void **state)
{
    struct fixture *f = *state;
    struct tw_spool *sp = tw_spool_open(f->dir);
    assert_non_null(sp);
    tw_spool_close(&sp);

    char stale[512], fresh[512];
    snprintf(stale, sizeof stale, "%s/tmp/stale", f->dir);
    snprintf(fresh, sizeof fresh, "%s/tmp/fresh", f->dir);
    int fd = open(stale, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    assert_true(fd >= 0);
    close(fd);
    fd = open(fresh, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    assert_true(fd >= 0);
    close(fd);
    struct timeval old[2];
    gettimeofday(&old[0], NULL);
    old[0].tv_sec -= 3600 + 60;
    old[1] = old[0];
    assert_int_equal(utimes(stale, old), 0);

    sp = tw_spool_open(f->dir);
    assert_non_null(sp);
    assert_false(exists(f, "tmp", "stale"));
    assert_true(exists(f, "tmp", "fresh"));
    assert_int_equal(tw_spool_count(sp), 0);
    tw_spool_close(&sp);
}

static void test_reject_and_retry(void **state)
{
    struct fixture *f = *state;
    struct tw_spool *sp = tw_spool_open(f->dir);
    char n1[TW_SPOOL_NAME_MAX], n2[TW_SPOOL_NAME_MAX], reason[512];
    put_str(sp, "bad one", n1);
    put_str(sp, "bad two", n2);

    assert_int_equal(tw_spool_reject(sp, n1, "not a mail message"), TW_OK);
    assert_false(exists(f, "new", n1));
    assert_true(exists(f, "failed", n1));
    snprintf(reason, sizeof reason, "%s/failed/%s.reason", f->dir, n1);
    FILE *fp = fopen(reason, "r");
    assert_non_null(fp);
    char line[128] = {0};
    assert_non_null(fgets(line, sizeof line, fp));
    fclose(fp);
    assert_string_equal(line, "not a mail message\n");
    assert_int_equal(tw_spool_count(sp), 1);
    assert_int_equal(tw_spool_reject(sp, n1, "again"), TW_PERMFAIL);

    assert_int_equal(tw_spool_reject(sp, n2, "too large"), TW_OK);
    assert_int_equal(tw_spool_count(sp), 0);

    /* One by name, then all the rest. */
    assert_int_equal(tw_spool_retry(sp, n1), 1);
    assert_true(exists(f, "new", n1));
    assert_false(exists(f, "failed", n1));
    snprintf(reason, sizeof reason, "%s.reason", n1);
    assert_false(exists(f, "failed", reason));
    assert_int_equal(tw_spool_retry(sp, n1), 0);
    assert_int_equal(tw_spool_retry(sp, NULL), 1);
    assert_int_equal(tw_spool_count(sp), 2);
    snprintf(reason, sizeof reason, "%s.reason", n2);
    assert_false(exists(f, "failed", reason));

    char *data = NULL;
    size_t len;
    assert_int_equal(tw_spool_read(sp, n2, &data, &len, 100), TW_OK);
    assert_string_equal(data, "bad two");
    free(data);
    tw_spool_close(&sp);
}

static void test_read_cap(void **state)
{
    struct fixture *f = *state;
    struct tw_spool *sp = tw_spool_open(f->dir);
    char name[TW_SPOOL_NAME_MAX];
    put_str(sp, "0123456789", name);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(tw_spool_read(sp, name, &data, &len, 9), TW_PERMFAIL);
    assert_null(data);
    assert_int_equal(tw_spool_read(sp, name, &data, &len, 10), TW_OK);
    assert_int_equal(len, 10);
    free(data);
    tw_spool_close(&sp);
}

static void test_many_pieces(void **state)
{
    /* More pieces than one writev takes: the write loop must go on. */
    struct fixture *f = *state;
    struct tw_spool *sp = tw_spool_open(f->dir);
    enum { N = 300 };
    struct iovec iov[N];
    char digits[N];
    for (int i = 0; i < N; i++) {
        digits[i] = (char)('0' + i % 10);
        iov[i].iov_base = &digits[i];
        iov[i].iov_len = 1;
    }
    char name[TW_SPOOL_NAME_MAX];
    assert_int_equal(tw_spool_put(sp, iov, N, name), TW_OK);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(tw_spool_read(sp, name, &data, &len, 1000), TW_OK);
    assert_int_equal(len, N);
    assert_memory_equal(data, digits, N);
    free(data);
    tw_spool_close(&sp);
}

static void test_put_many(void **state)
{
    /* A batch lands whole, in order, each item readable; nothing in tmp/. */
    struct fixture *f = *state;
    struct tw_spool *sp = tw_spool_open(f->dir);
    enum { N = 50 };
    char text[N][16];
    struct iovec iov[N];
    struct tw_spool_item items[N];
    char names[N][TW_SPOOL_NAME_MAX];
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "item %d", i);
        iov[i].iov_base = text[i];
        iov[i].iov_len = strlen(text[i]);
        items[i].iov = &iov[i];
        items[i].n = 1;
    }
    assert_int_equal(tw_spool_put_many(sp, items, N, names), TW_OK);
    assert_int_equal(tw_spool_count(sp), N);
    for (int i = 0; i < N; i++) {
        assert_true(exists(f, "new", names[i]));
        assert_false(exists(f, "tmp", names[i]));
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(tw_spool_read(sp, names[i], &data, &len, 100), TW_OK);
        assert_string_equal(data, text[i]);
        free(data);
    }
    char **list = NULL;
    assert_int_equal(tw_spool_list(sp, 0, &list), N);
    for (int i = 0; i < N; i++)
        assert_string_equal(list[i], names[i]);
    tw_spool_names_free(&list);
    assert_int_equal(tw_spool_put_many(sp, items, 0, names), TW_OK);
    tw_spool_close(&sp);
}

static void test_open_fails_cleanly(void **state)
{
    (void)state;
    assert_null(tw_spool_open("/proc/definitely/not/here"));
}

int main(void)
{
    tw_log_init("test_spool", TW_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_list_read_remove, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_names_unique_and_sorted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stale_tmp_removed_on_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reject_and_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_many, setup, teardown),
        cmocka_unit_test(test_open_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
