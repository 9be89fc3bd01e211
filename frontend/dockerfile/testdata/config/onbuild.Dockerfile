FROM onbuild
RUN echo after
ONBUILD RUN echo child
ONBUILD COPY <<EOF /y
hello
EOF
CMD serve --port 1
