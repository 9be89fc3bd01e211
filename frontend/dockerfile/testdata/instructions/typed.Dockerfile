FROM a
from b as c
run --mount="type=bind,source=a b" --network=none echo
COPY --chown=1:1 --chmod=755 "a b" c
COPY --from=x -- --notaflag /d
RUN --mount=type=cache,target=/root/.cache\
  --mount=type=secret,id=s cmd
HEALTHCHECK NONE
EXPOSE 80/tcp   443
VOLUME ["/a", "/b"]
VOLUME /c /d
STOPSIGNAL SIGTERM
USER   me:group  
WORKDIR "/a b"
SHELL ["bash","-c"]
MAINTAINER Me <me@x>
ARG a b=c "d=e f" g=
ENV a=b\ c d="e f" g=h\\
ENV old style value here
LABEL "k 1"="v 1" k2=v2
LABEL legacy value
CMD ["a"] && echo
CMD [1, "a"
CMD ["a" "b"]
ENTRYPOINT []
RUN [ ]
ADD ["a", "b"]
HEALTHCHECK --interval=1m30s --timeout=2s --start-period=500ms --retries=7 CMD curl x
ONBUILD RUN --mount=type=cache,target=/c echo "trigger"
EXPOSE 8080-8081/udp 22
ARG later
COPY --link --from=1 <<EOF <<-EOT /dst/
one $a
EOF
	two
	EOT
ADD --keep-git-dir=true --link=false --chmod=600 --checksum=sha256:00 http://x/y /z
RUN <<EOF bash
set -e
EOF
