FROM nopath AS np
RUN pwd
FROM emptyimg
CMD ["y"]
