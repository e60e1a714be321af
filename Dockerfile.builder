# The builder image: the host image (or builder.base) plus the toolchain, installed with the
# image's own package manager so the C library stays the one the host loads plugins with.
# Built by `builder build` through the Docker API; the context holds only images/install-toolchain.sh.
ARG BASE
FROM ${BASE}
ARG PACKAGES=""
# The C compiler of the builds (musl-gcc when a glibc distribution builds for a musl host).
ARG CC=gcc
# Host images usually run their service as a non-root USER; installing the toolchain (and the
# builds, which write /src and /out) needs root inside this throwaway image.
USER root
COPY images/install-toolchain.sh /usr/local/lib/plugin-builder/install-toolchain.sh
RUN sh /usr/local/lib/plugin-builder/install-toolchain.sh ${PACKAGES}
# The default loading program of a build's proof: compiled here, against the host's C library,
# and run in a container of the host image (see images/load-prober.c).
COPY images/load-prober.c /usr/local/lib/plugin-builder/load-prober.c
RUN ${CC} -O2 -o /usr/local/lib/plugin-builder/load-prober /usr/local/lib/plugin-builder/load-prober.c -ldl
# A host image's ENTRYPOINT (a Go host binary, a service) must not wrap the compiler commands.
ENTRYPOINT []
CMD ["sh"]
