FROM busybox AS deps
RUN --mount=type=cache,target=/root/.cache,sharing=locked,id=c1 echo cache
# main stage
FROM busybox
ARG SID=token
RUN --mount=type=secret,id=$SID,required --mount=type=bind,from=deps,source=/x,target=/y echo
RUN --mount=type=secret,target=/run/other.txt echo
RUN --mount=type=ssh echo
RUN --mount=type=ssh,id=gh,required=true echo
RUN --mount=type=secret,id=token,mode=0400,uid=1 --mount=type=tmpfs,target=/t,size=64m --mount=type=cache,target=c,mode=0700,uid=1000 echo two
