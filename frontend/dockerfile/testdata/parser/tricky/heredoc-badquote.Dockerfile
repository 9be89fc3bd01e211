FROM a
RUN <<"EOF
x
