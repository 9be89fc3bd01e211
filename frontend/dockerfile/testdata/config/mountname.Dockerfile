FROM busybox
RUN --mount=type=cache,target=/x echo
