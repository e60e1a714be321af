/* dlopen-check FILE: load a shared object the way a C host would and report the loader's
 * verdict. Used as the "real load" in host images without Node (musl stand-in, slim glibc). */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: dlopen-check FILE\n");
        return 2;
    }
    void *handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    puts("loaded");
    return 0;
}
