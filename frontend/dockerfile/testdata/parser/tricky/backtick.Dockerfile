# syntax=docker/dockerfile:1
# escape=`
# check=skip=JSONArgsRecommended;error=true

FROM mcr.microsoft.com/windows/servercore
COPY testfile.txt c:\
RUN dir c:\ `
  && echo `
# inner comment
  done
RUN <<EOF `
  cat
line one
EOF
ENV A=`$B C=\D
