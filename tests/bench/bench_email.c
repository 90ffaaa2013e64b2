/*
 * bench_email - the email intake's figures (run by tests/bench/email).
 *
 * Modes:
 *   bench_email parse FIXTURES_DIR N
 *       parse the .eml files in FIXTURES_DIR round-robin, N messages in
 *       all, with the parser the daemon uses; prints messages/s
 *   bench_email spool DIR N
 *       N tw_spool_put calls of a 2 KB message into a spool at DIR (the
 *       disk's own limit for --pipe: a file fsync and a folder fsync each)
 *   bench_email gen DIR N [FIRST]
 *       write N distinct messages (Arabic subject and body, a few with an
 *       attachment) into DIR (a folder), numbered from FIRST
 * Every figure is printed as "name: value" on its own line.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"
#include "mail_parse.h"
#include "mem.h"
#include "spool.h"

static int parse(const char *dir, long n)
{
    char *data[64];
    size_t len[64];
    int count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < 64) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0 ||
            strcmp(e->d_name, "garbage.eml") == 0 ||
            strcmp(e->d_name, "oversize.eml") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        data[count] = tw_malloc(1 << 20);
        len[count] = fread(data[count], 1, 1 << 20, f);
        fclose(f);
        count++;
    }
    closedir(d);
    if (!count)
        return 1;
    struct mail_limits lim = {256 * 1024, 20, 10 << 20, 500, NULL};
    mail_init();
    long ok = 0;
    size_t bytes = 0;
    tw_time t0 = tw_clock_mono();
    for (long i = 0; i < n; i++) {
        struct mail_parsed m;
        char reason[256];
        int k = (int)(i % count);
        if (mail_parse(data[k], len[k], &lim, &m, reason, sizeof reason) ==
            TW_OK) {
            ok++;
            mail_parsed_clear(&m);
        }
        bytes += len[k];
    }
    double secs = (double)(tw_clock_mono() - t0) / 1e6;
    printf("parser_fixtures: %d\nparser_messages: %ld\nparser_ok: %ld\n"
           "parser_seconds: %.2f\nparser_messages_per_second: %.0f\n"
           "parser_mb_per_second: %.1f\n",
           count, n, ok, secs, n / secs, bytes / secs / 1e6);
    for (int i = 0; i < count; i++)
        free(data[i]);
    return 0;
}

static int gen(const char *dir, long n, long first)
{
    for (long i = first; i < first + n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%010ld.M%ldP1.bench", dir, i, i);
        FILE *f = fopen(path, "wb");
        if (!f) {
            perror(path);
            return 1;
        }
        fprintf(f,
                "From: =?utf-8?B?2LnYttmI?= <member%ld@example.org>\r\n"
                "To: members@coop.example\r\n"
                "Subject: =?utf-8?B?2LfZhNioINiv2LnZhSDYsdmC2YU=?= %ld\r\n"
                "Date: Wed, 25 Nov 2026 10:00:00 +0300\r\n"
                "Message-ID: <bench.%ld@example.org>\r\n"
                "MIME-Version: 1.0\r\n",
                i % 997, i, i);
        if (i % 10 == 0) {
            fprintf(f,
                    "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
                    "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                    "السلام عليكم، أرفقت المستند المطلوب للطلب.\r\n"
                    "--B\r\nContent-Type: application/pdf\r\n"
                    "Content-Disposition: attachment; filename=\"doc.pdf\"\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\n"
                    "JVBERi0xLjQKJeLjz9MKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+Pgpl"
                    "bmRvYmoK\r\n--B--\r\n");
        } else {
            fprintf(f,
                    "Content-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n\r\n"
                    "السلام عليكم ورحمة الله،\r\nأرجو التكرم بالنظر في طلبي "
                    "رقم %ld بخصوص برنامج دعم الأعضاء.\r\nمع خالص الشكر\r\n",
                    i);
        }
        fclose(f);
    }
    return 0;
}

static int spool(const char *dir, long n)
{
    struct tw_spool *sp = tw_spool_open(dir);
    if (!sp)
        return 1;
    char msg[2048];
    memset(msg, 'x', sizeof msg);
    struct iovec iov = {msg, sizeof msg};
    tw_time t0 = tw_clock_mono();
    for (long i = 0; i < n; i++)
        if (tw_spool_put(sp, &iov, 1, NULL) != TW_OK)
            return 1;
    double secs = (double)(tw_clock_mono() - t0) / 1e6;
    printf("bare_spool_puts_per_second: %.0f\n", n / secs);
    tw_spool_close(&sp);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "spool") == 0)
        return spool(argv[2], atol(argv[3]));
    if (argc == 4 && strcmp(argv[1], "parse") == 0)
        return parse(argv[2], atol(argv[3]));
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "gen") == 0)
        return gen(argv[2], atol(argv[3]), argc == 5 ? atol(argv[4]) : 0);
    fprintf(stderr, "usage: bench_email parse FIXTURES_DIR N\n"
                    "       bench_email spool DIR N\n"
                    "       bench_email gen DIR N [FIRST]\n");
    return 64;
}
