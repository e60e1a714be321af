/* load-prober: the loading program of a build's proof when the host image's program is neither
 * the Node runtime nor a Go pluginhost binary. Compiled into every builder image with the
 * builder's C compiler, so it links against the host's own C library and runs under the host's
 * own dynamic loader.
 *
 *   load-prober NONCE dlopen FILE...          dlopen(FILE, RTLD_NOW | RTLD_LOCAL), as koffi and
 *                                             the Go runtime's plugin.Open do
 *   load-prober NONCE exec FILE... -- CMD...  run CMD... FILE (config host.loader) for each FILE;
 *                                             exit status 0 means it loaded
 *
 * For each FILE it writes "NONCE loading FILE", then "NONCE loaded FILE" or
 * "NONCE failed FILE MESSAGE" on stdout, unbuffered: a constructor that kills the process leaves
 * "loading" as the last line, which names the culprit. It ends with "NONCE done" and _exit(0), or
 * _exit(1) when a load failed: the builder believes a success only from a run that ended so. MESSAGE is one line (the loader's own
 * dlerror() text, newlines replaced). Nothing is ever unloaded: a later FILE loads into the
 * process the earlier ones left behind, as in a host. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void put(const char *text) {
    size_t left = strlen(text);
    while (left > 0) {
        ssize_t n = write(1, text, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(3);
        text += n;
        left -= (size_t)n;
    }
}

static void report(const char *nonce, const char *event, const char *file, const char *message) {
    /* A newline first: output a constructor left without one cannot swallow the report line. */
    put("\n"); put(nonce); put(" "); put(event); put(" "); put(file);
    if (message) {
        char line[4096];
        size_t i = 0;
        for (; message[i] && i < sizeof line - 1; i++) line[i] = (message[i] == '\n' || message[i] == '\r') ? ' ' : message[i];
        line[i] = 0;
        put(" "); put(line);
    }
    put("\n");
}

static int load_by_dlopen(const char *nonce, const char *file) {
    report(nonce, "loading", file, NULL);
    void *handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        report(nonce, "failed", file, why ? why : "dlopen returned NULL");
        return 1;
    }
    report(nonce, "loaded", file, NULL);
    return 0;
}

static int load_by_command(const char *nonce, const char *file, char **command, int words) {
    char *argv[256];
    if (words > 254) words = 254;
    for (int i = 0; i < words; i++) argv[i] = command[i];
    argv[words] = (char *)file;
    argv[words + 1] = NULL;
    report(nonce, "loading", file, NULL);
    /* The loader's output goes into a pipe: its last words are the failure's message (and a
     * loader that prints cannot forge report lines). */
    int out[2];
    if (pipe(out) < 0) { report(nonce, "failed", file, strerror(errno)); return 1; }
    pid_t pid = fork();
    if (pid < 0) { report(nonce, "failed", file, strerror(errno)); return 1; }
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(out[1], 2);
        close(out[0]);
        close(out[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "load-prober: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(out[1]);
    char tail[1024];
    size_t held = 0;
    char chunk[4096];
    for (;;) {
        ssize_t n = read(out[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (held == sizeof tail - 1) { memmove(tail, tail + 1, held - 1); held--; }
            tail[held++] = chunk[i];
        }
    }
    close(out[0]);
    while (held > 0 && (tail[held - 1] == '\n' || tail[held - 1] == ' ')) held--;
    tail[held] = 0;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) { report(nonce, "failed", file, strerror(errno)); return 1; }
    }
    char why[1400];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) { report(nonce, "loaded", file, NULL); return 0; }
    if (WIFSIGNALED(status)) snprintf(why, sizeof why, "the loader was killed by signal %d (%s)%s%s", WTERMSIG(status), strsignal(WTERMSIG(status)), held ? ": " : "", tail);
    else snprintf(why, sizeof why, "the loader exited with status %d%s%s", WEXITSTATUS(status), held ? ": " : "", tail);
    report(nonce, "failed", file, why);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: load-prober NONCE dlopen FILE... | load-prober NONCE exec FILE... -- CMD...\n");
        return 2;
    }
    const char *nonce = argv[1];
    int by_command = strcmp(argv[2], "exec") == 0;
    if (!by_command && strcmp(argv[2], "dlopen") != 0) { fprintf(stderr, "load-prober: unknown mode %s\n", argv[2]); return 2; }
    int end = argc;
    for (int i = 3; i < argc; i++) if (strcmp(argv[i], "--") == 0) { end = i; break; }
    if (by_command && end >= argc - 1) { fprintf(stderr, "load-prober: exec needs -- CMD\n"); return 2; }
    int failed = 0;
    for (int i = 3; i < end; i++) {
        failed |= by_command ? load_by_command(nonce, argv[i], argv + end + 1, argc - end - 1) : load_by_dlopen(nonce, argv[i]);
    }
    put("\n"); put(nonce); put(" done\n");
    /* Not return: the plugins' destructors would run, and a crash in one would read as a failed load. */
    _exit(failed);
}
