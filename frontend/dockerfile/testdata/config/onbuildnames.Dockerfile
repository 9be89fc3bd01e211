FROM onbuild
RUN echo $BASE "q" '$BASE'
COPY "a" ${BASE} /d
WORKDIR $BASE
