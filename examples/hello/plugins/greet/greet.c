/* A C plugin: plain functions plus the registration manifest the host runtime binds by. */
#include <stdio.h>
#include <string.h>

const char *builder_plugin_manifest(void) {
    return "{\"name\":\"greet\",\"version\":\"1.0.0\",\"functions\":{"
           "\"Add\":\"int Add(int a, int b)\","
           "\"Greet\":\"const char *Greet(const char *who)\"}}";
}

int Add(int a, int b) { return a + b; }

/* Returns a pointer into a thread-local buffer: valid until the next call on this thread. */
const char *Greet(const char *who) {
    static __thread char buffer[256];
    snprintf(buffer, sizeof buffer, "Hello, %s!", who ? who : "world");
    return buffer;
}
