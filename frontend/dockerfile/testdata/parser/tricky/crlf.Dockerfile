FROM scratch
RUN a \
  b
RUN <<EOF
x
EOF
LABEL k=v
