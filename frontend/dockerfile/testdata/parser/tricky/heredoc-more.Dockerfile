FROM a
RUN <<-EOT bash
	echo
		EOT
	EOT
RUN 3<<A 4<<-B cat
1
A
	2
	B
COPY <<a <<b /
a
b
RUN cat <<EOF
$X
EOF
RUN <<E\
OF
x
EOF
