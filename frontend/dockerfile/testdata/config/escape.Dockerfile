# escape=`
FROM busybox
ENV P=C:\dir VAR=`$HOME
RUN echo $P `
  && echo done
COPY a` b c /dst/
