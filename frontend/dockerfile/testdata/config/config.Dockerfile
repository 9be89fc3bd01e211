FROM busybox
ENV PORTS="8000-8002/tcp 9000" NAME=svc
WORKDIR /
WORKDIR a
WORKDIR b/../c
WORKDIR /abs/
WORKDIR rel
EXPOSE $PORTS 53/udp 53/UDP 1.2.3.4:81:81 10:20
VOLUME ["/v1", "/v2"]
VOLUME /v3 $NAME
LABEL "com.example.$NAME"="$NAME x" other=y
LABEL legacy value with spaces
HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=0s --retries=0 CMD ["check", "--now"]
HEALTHCHECK NONE
HEALTHCHECK CMD true
STOPSIGNAL 9
USER $NAME
ENV A=1 B=$A
ENV A 2 3
ENV C=x
ENV A=4
