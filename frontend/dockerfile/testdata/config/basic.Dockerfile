FROM busybox
ENV A=b
RUN echo hi
WORKDIR /app
COPY file /x
CMD ["sh"]
HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/
EXPOSE 80 443/udp
VOLUME /data /x
SHELL ["/bin/bash","-c"]
STOPSIGNAL SIGKILL
ARG X=1
RUN echo $X
USER app:app
LABEL version="1.0" description="a & b <c>"
MAINTAINER Jane <jane@example.com>
