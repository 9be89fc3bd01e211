FROM busybox
RUN echo $UNSET \
  "${UNSET:-d}"
COPY $UNSET ab /d
WORKDIR /x/$UNSET
RUN echo ${UNSET:?x} '
COPY --chown=1 a\ b /
