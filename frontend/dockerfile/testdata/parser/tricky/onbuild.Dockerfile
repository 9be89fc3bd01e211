FROM busybox
ONBUILD RUN echo hi
ONBUILD COPY <<EOF /x
hello
EOF
ONBUILD RUN ["echo", "<<EOF"]
onbuild add . /
ONBUILD
