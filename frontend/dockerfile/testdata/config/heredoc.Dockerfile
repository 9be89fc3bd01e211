FROM busybox
ENV NAME=world
RUN <<EOF
echo hello
echo $NAME
EOF
RUN <<-EOT sh -x
	echo tabs
	EOT
RUN <<EOF
#!/bin/sh
echo script
EOF
RUN python3 <<EOF
print("x")
EOF
RUN <<A && cat <<B
a
A
b
B
COPY <<EOF /greeting
hello $NAME
EOF
COPY <<'EOF' --chown=1 /literal
hello $NAME
EOF
COPY --chmod=0755 <<-EOF <<EOF2 /dir/
	one ${NAME}
EOF
two
EOF2
