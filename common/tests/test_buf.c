/* Unit tests of the growable buffer, its libcurl writer and gzip. */
#include "buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

static void buffer_grows_stays_terminated_and_resets(void **state)
{
    (void)state;
    struct s4f_buf b = {0};
    assert_int_equal(s4f_buf_append(&b, "", 0), 0);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    char chunk[1000];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 100; i++)
        assert_int_equal(s4f_buf_append(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.p[b.len], '\0');
    assert_int_equal(s4f_buf_printf(&b, "%d-%s", 42, "end"), 0);
    assert_string_equal(b.p + 100000, "42-end");
    size_t cap = b.cap;
    s4f_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    assert_int_equal(b.cap, cap); /* the memory is kept */
    s4f_buf_free(&b);
    s4f_buf_free(&b); /* NULL-safe twice */
    assert_null(b.p);
}

static void curl_writer_bounds_the_answer(void **state)
{
    (void)state;
    struct s4f_buf b = {0};
    struct s4f_buf_sink sink = {.buf = &b, .max = 10};
    char data[] = "abcdef";
    assert_int_equal(s4f_buf_curl_write(data, 1, 6, &sink), 6);
    assert_string_equal(b.p, "abcdef");
    /* 6 + 6 + NUL > 10: refused, flagged, the buffer left as it was. */
    assert_int_equal(s4f_buf_curl_write(data, 2, 3, &sink), 0);
    assert_true(sink.too_big);
    assert_false(sink.oom);
    assert_string_equal(b.p, "abcdef");
    s4f_buf_free(&b);
}

static void gzip_round_trips_and_reuses_its_buffer(void **state)
{
    (void)state;
    char in[5000];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (char)('a' + i % 7);
    struct s4f_buf gz = {0};
    assert_int_equal(s4f_gzip(in, sizeof(in), 1, &gz), 0);
    assert_true(gz.len > 18 && gz.len < sizeof(in));
    assert_int_equal((unsigned char)gz.p[0], 0x1f); /* gzip magic */
    assert_int_equal((unsigned char)gz.p[1], 0x8b);
    char out[6000];
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)gz.p;
    zs.avail_in = (uInt)gz.len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = sizeof(out);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, sizeof(in));
    assert_memory_equal(out, in, sizeof(in));
    inflateEnd(&zs);
    /* A second, smaller body replaces the first in the same memory. */
    char *p = gz.p;
    assert_int_equal(s4f_gzip(in, 100, 6, &gz), 0);
    assert_ptr_equal(gz.p, p);
    assert_true(gz.len > 18);
    s4f_buf_free(&gz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buffer_grows_stays_terminated_and_resets),
        cmocka_unit_test(curl_writer_bounds_the_answer),
        cmocka_unit_test(gzip_round_trips_and_reuses_its_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
