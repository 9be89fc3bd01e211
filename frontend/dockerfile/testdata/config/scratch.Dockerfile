FROM scratch
ADD --chown=1:2 --chmod=644 --link https://example.com/a.tar.gz /
COPY --link a b /dst/
